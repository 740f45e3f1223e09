//! Config reload: new settings replace the old ones while the server runs. What nats-server
//! can reload (logging, limits, users) takes effect at once, for new and existing clients;
//! a change to anything else (listen addresses, names) refuses the whole reload.

use std::sync::Arc;
use std::time::SystemTime;

use natsd_proto::errors;
use thiserror::Error;

use crate::auth::authenticate;
use crate::options::Options;
use crate::outbound::CloseReason;
use crate::server::{info_for, Server};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReloadError {
    #[error("config reload not supported for {field}: old={old}, new={new}")]
    NotSupported {
        field: &'static str,
        old: String,
        new: String,
    },
}

/// Fails when a setting that cannot change at run time differs.
fn unchanged<T: PartialEq + std::fmt::Debug>(
    field: &'static str,
    old: &T,
    new: &T,
) -> Result<(), ReloadError> {
    if old == new {
        return Ok(());
    }
    Err(ReloadError::NotSupported {
        field,
        old: format!("{old:?}"),
        new: format!("{new:?}"),
    })
}

impl Server {
    /// Replaces the settings; returns a line for each change applied.
    pub fn reload(&self, new: Options) -> Result<Vec<String>, ReloadError> {
        let inner = self.inner();
        let old = inner.opts();
        unchanged("Host", &old.host, &new.host)?;
        // A random port (-1) in the new file keeps the one bound.
        let bound = Some(inner.port());
        unchanged("Port", &bound, &new.port.or(bound))?;
        unchanged("ServerName", &old.server_name, &new.server_name)?;
        unchanged("HTTPHost", &old.http_host, &new.http_host)?;
        if new.http_port != -1 {
            unchanged("HTTPPort", &old.http_port, &new.http_port)?;
        }
        unchanged("HTTPBasePath", &old.http_base_path, &new.http_base_path)?;
        unchanged(
            "NoHeaderSupport",
            &old.no_header_support,
            &new.no_header_support,
        )?;
        unchanged(
            "NoSublistCache",
            &old.disable_sublist_cache,
            &new.disable_sublist_cache,
        )?;

        let mut changes = Vec::new();
        let mut note = |name: &str, before: String, after: String| {
            if before != after {
                changes.push(format!("{name} = {after}"));
            }
        };
        note("debug", old.debug.to_string(), new.debug.to_string());
        note("trace", old.trace.to_string(), new.trace.to_string());
        note("logtime", old.logtime.to_string(), new.logtime.to_string());
        note(
            "log_file",
            format!("{:?}", old.log_file),
            format!("{:?}", new.log_file),
        );
        note(
            "max_payload",
            old.max_payload.to_string(),
            new.max_payload.to_string(),
        );
        note(
            "max_control_line",
            old.max_control_line.to_string(),
            new.max_control_line.to_string(),
        );
        note(
            "max_pending",
            old.max_pending.to_string(),
            new.max_pending.to_string(),
        );
        note(
            "max_connections",
            old.max_connections.to_string(),
            new.max_connections.to_string(),
        );
        note(
            "max_subscriptions",
            old.max_subscriptions.to_string(),
            new.max_subscriptions.to_string(),
        );
        note(
            "ping_interval",
            format!("{:?}", old.ping_interval),
            format!("{:?}", new.ping_interval),
        );
        note(
            "ping_max",
            old.ping_max.to_string(),
            new.ping_max.to_string(),
        );
        note(
            "write_deadline",
            format!("{:?}", old.write_deadline),
            format!("{:?}", new.write_deadline),
        );
        note(
            "lame_duck_duration",
            format!("{:?}", old.lame_duck_duration),
            format!("{:?}", new.lame_duck_duration),
        );
        note(
            "server_tags",
            format!("{:?}", old.server_tags),
            format!("{:?}", new.server_tags),
        );
        let auth_changed = old.authorization != new.authorization;
        if auth_changed {
            changes.push("authorization users".to_owned());
        }

        {
            let mut info = inner.info_mut();
            *info = info_for(
                &new,
                info.server_id.clone(),
                info.server_name.clone(),
                info.port,
            );
        }
        inner.log.set_levels(new.debug, new.trace, new.logtime);
        let new = Arc::new(new);
        inner.replace_opts(Arc::clone(&new));
        *inner.monitor.config_load_time.lock() = SystemTime::now();
        if auth_changed {
            self.drop_unauthorized(&new);
        }
        Ok(changes)
    }

    /// Closes clients that the new users no longer admit; the others keep their connection.
    fn drop_unauthorized(&self, opts: &Options) {
        for client in self.inner().snapshot_clients() {
            let details = client.stats.details.lock().clone();
            if !details.connected || !opts.authorization.is_required() {
                continue;
            }
            if authenticate(&opts.authorization, &details.credentials).is_none() {
                crate::client::send_error(&client, errors::AUTHORIZATION_VIOLATION);
                client.close(CloseReason::AuthenticationViolation);
            }
        }
    }
}
