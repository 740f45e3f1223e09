//! The INFO and CONNECT JSON documents.

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// INFO as nats-server sends it to clients; fields in nats-server's order, omitted where it
/// omits them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: u8,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// nats-server puts its Go version here; natsd names itself and its own version.
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: usize,
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    /// For NKey users to sign.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// The JetStream domain, when one is set.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    /// The JetStream API level served; 0 without JetStream.
    #[serde(skip_serializing_if = "is_zero")]
    pub api_lvl: u64,
    /// The server's curve key, for auth callout services to seal answers for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub xkey: String,
}

impl ServerInfo {
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings, numbers and booleans cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// CONNECT fields. Absent fields keep their current value, as in nats-server, whose
/// defaults before any CONNECT are verbose, pedantic and echo on.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectFields {
    pub verbose: Option<bool>,
    pub pedantic: Option<bool>,
    pub tls_required: Option<bool>,
    pub echo: Option<bool>,
    pub headers: Option<bool>,
    pub no_responders: Option<bool>,
    pub protocol: Option<i64>,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub auth_token: Option<String>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    pub jwt: Option<String>,
    pub account: Option<String>,
    pub new_account: Option<bool>,
}

/// The client's options after all CONNECTs so far.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
    pub name: String,
    pub lang: String,
    pub version: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
        }
    }
}

impl ClientOptions {
    pub fn merge(&mut self, fields: ConnectFields) {
        let ConnectFields {
            verbose,
            pedantic,
            echo,
            headers,
            no_responders,
            protocol,
            name,
            lang,
            version,
            ..
        } = fields;
        self.verbose = verbose.unwrap_or(self.verbose);
        self.pedantic = pedantic.unwrap_or(self.pedantic);
        self.echo = echo.unwrap_or(self.echo);
        self.headers = headers.unwrap_or(self.headers);
        self.no_responders = no_responders.unwrap_or(self.no_responders);
        self.protocol = protocol.unwrap_or(self.protocol);
        if let Some(name) = name {
            self.name = name;
        }
        if let Some(lang) = lang {
            self.lang = lang;
        }
        if let Some(version) = version {
            self.version = version;
        }
    }
}
