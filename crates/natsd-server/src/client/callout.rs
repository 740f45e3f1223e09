//! Auth callout's transport: the request goes out on `$SYS.REQ.USER.AUTH` in the callout
//! account from an internal client, the answer comes back on a one-off `$SYS._INBOX`
//! reply subject, and [`natsd_auth::callout`] judges it. The client's CONNECT waits,
//! for the authentication timeout at most.

use std::sync::Arc;

use bytes::Bytes;
use natsd_auth::callout::{self, AuthCallout, ClientTls, Expectation};
use natsd_auth::{AuthError, Credentials, Identity};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::conn::{ConnKind, Flusher};
use crate::info::ConnectFields;
use crate::internal::{InternalClient, InternalMsg};
use crate::server::ServerInner;

/// The connection asking, as the request describes it.
pub(super) struct Asker<'a> {
    pub cid: u64,
    pub host: String,
    /// Who the client says it is ([`callout::presented_user`]).
    pub user: String,
    pub credentials: &'a Credentials,
    pub fields: &'a ConnectFields,
    /// The nonce the client signed, when it signed one.
    pub nonce: Option<&'a str>,
    /// Its TLS session, when it has one.
    pub tls: Option<&'a ClientTls>,
}

/// Asks the service about a client; its answer stands in for the configured users'.
pub(super) async fn ask(
    server: &Arc<ServerInner>,
    callout: &AuthCallout,
    asker: Asker<'_>,
) -> Result<Identity, AuthError> {
    let unanswered = AuthError::CalloutUnanswered;
    let account = server.lookup_account(&callout.account).ok_or_else(|| {
        unanswered(format!(
            "No valid account {:?} for auth callout request",
            callout.account
        ))
    })?;
    let user = nkeys::KeyPair::new_user();
    let user_nkey = user.public_key();
    let server_id = server.keys.server_id();
    let client = InternalClient::new(account, ConnKind::System);
    let reply = format!(
        "$SYS._INBOX.{}.{}",
        &server_id[1..9],
        crate::imports::random_token(8)
    );
    let (answer, answered) = oneshot::channel::<InternalMsg>();
    let answer = Mutex::new(Some(answer));
    let sub = client
        .subscribe(
            &reply,
            None,
            Arc::new(move |msg: InternalMsg, _: &mut Flusher| {
                if let Some(answer) = answer.lock().take() {
                    let _ = answer.send(msg);
                }
            }),
        )
        .map_err(|_| unanswered("Error setting up reply subscription for auth request".into()))?;
    let exchange = Exchange {
        client: &client,
        reply: &reply,
        user_nkey: &user_nkey,
        server_id: &server_id,
    };
    let result = exchange.run(server, callout, &asker, answered).await;
    client.unsubscribe(&sub);
    let grant = result?;
    let target = server.lookup_account(&grant.account).ok_or_else(|| {
        unanswered(format!(
            "No valid account {:?} for auth callout response on account {:?}: account not found",
            grant.account, callout.account
        ))
    })?;
    let permissions = grant
        .permissions
        .or_else(|| server.authenticator().default_permissions.clone());
    Ok(Identity {
        user: grant.user,
        permissions,
        account: Some(target.name.clone()),
        expires: grant.expires,
        max_subscriptions: None,
        max_payload: None,
    })
}

/// One request: who sends it, where the answer comes back, whom it is about.
struct Exchange<'a> {
    client: &'a InternalClient,
    reply: &'a str,
    user_nkey: &'a str,
    server_id: &'a str,
}

impl Exchange<'_> {
    /// Sends the request and waits for the answer.
    async fn run(
        &self,
        server: &Arc<ServerInner>,
        callout: &AuthCallout,
        asker: &Asker<'_>,
        answered: oneshot::Receiver<InternalMsg>,
    ) -> Result<callout::Grant, AuthError> {
        let Exchange {
            client,
            reply,
            user_nkey,
            server_id,
        } = *self;
        let unanswered = AuthError::CalloutUnanswered;
        let opts = server.opts();
        let timeout = opts
            .auth_timeout
            .unwrap_or(crate::options::DEFAULT_AUTH_TIMEOUT);
        let sealed_for = callout
            .xkey
            .as_deref()
            .map(nkeys::XKey::from_public_key)
            .transpose()
            .map_err(|e| unanswered(format!("Error encrypting auth request claim: {e}")))?;
        let request = request(server, asker, user_nkey, server_id, sealed_for.is_some());
        let now = natsd_auth::jwt::now_unix();
        let expires = now + i64::try_from(timeout.as_secs().max(1)).unwrap_or(i64::MAX);
        let token = callout::encode_request(
            &request,
            &callout.issuer,
            &server.keys.signing,
            now,
            expires,
        )
        .map_err(|e| unanswered(format!("Error encoding auth request claim: {e}")))?;
        let (header, body) = match &sealed_for {
            Some(service) => {
                let sealed = server
                    .keys
                    .xkey
                    .seal(token.as_bytes(), service)
                    .map_err(|e| unanswered(format!("Error encrypting auth request claim: {e}")))?;
                let header = format!(
                    "NATS/1.0\r\n{}: {}\r\n\r\n",
                    callout::XKEY_HEADER,
                    server.keys.xkey.public_key()
                );
                (header.into_bytes(), sealed)
            }
            None => (Vec::new(), token.into_bytes()),
        };
        let header_len = header.len();
        let mut payload = header;
        payload.extend_from_slice(&body);
        let mut flusher = Flusher::default();
        let delivered = client.publish(
            callout::CALLOUT_SUBJECT.as_bytes(),
            reply.as_bytes(),
            header_len,
            Bytes::from(payload),
            &mut flusher,
        );
        flusher.flush();
        if !delivered {
            return Err(unanswered(format!(
                "No auth callout service is listening on {:?} in account {:?}",
                callout::CALLOUT_SUBJECT,
                callout.account
            )));
        }
        let message = match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(message)) => message,
            _ => {
                return Err(unanswered(format!(
                    "Authorization callout response not received in time on account {:?}",
                    callout.account
                )))
            }
        };
        let expect = Expectation {
            callout,
            user_nkey,
            server_id,
            now: natsd_auth::jwt::now_unix(),
            connection_type: asker.credentials.connection_type.as_str(),
        };
        let open = |body: &[u8]| -> Result<Vec<u8>, String> {
            let service = sealed_for.as_ref().ok_or_else(|| "no xkey".to_owned())?;
            server
                .keys
                .xkey
                .open(body, service)
                .map_err(|e| e.to_string())
        };
        let opener: Option<callout::Opener<'_>> = sealed_for.is_some().then_some(&open);
        let authenticator = server.authenticator();
        let grant = match &authenticator.trust {
            Some(trust) => {
                let facts = natsd_auth::jwt::ConnectionFacts {
                    ip: asker.credentials.client_ip,
                    connection_type: expect.connection_type,
                    now: expect.now,
                };
                callout::judge_operator_response(message.body(), &expect, opener, trust, facts)
            }
            None => callout::judge_response(message.body(), &expect, opener),
        };
        Ok(grant?)
    }
}

/// The authorization request for this client.
fn request(
    server: &ServerInner,
    asker: &Asker<'_>,
    user_nkey: &str,
    server_id: &str,
    sealed: bool,
) -> callout::AuthorizationRequest {
    let credentials = asker.credentials;
    let fields = asker.fields;
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let opts = server.opts();
    callout::AuthorizationRequest {
        server_id: callout::ServerIdentity {
            name: server.server_name(),
            host: opts.host.clone(),
            id: server_id.to_owned(),
            version: crate::options::COMPATIBLE_VERSION.to_owned(),
            xkey: if sealed {
                server.keys.xkey.public_key()
            } else {
                String::new()
            },
            ..callout::ServerIdentity::default()
        },
        user_nkey: user_nkey.to_owned(),
        client_info: callout::ClientInformation {
            host: asker.host.clone(),
            id: asker.cid,
            user: asker.user.clone(),
            name: text(&fields.name),
            kind: "Client".to_owned(),
            client_type: "nats".to_owned(),
            nonce: if credentials.sig.is_some() {
                asker.nonce.unwrap_or_default().to_owned()
            } else {
                String::new()
            },
        },
        connect_opts: callout::ConnectOptions {
            jwt: text(&credentials.jwt),
            nkey: text(&credentials.nkey),
            signed_nonce: text(&credentials.sig),
            token: text(&credentials.token),
            username: text(&credentials.user),
            password: text(&credentials.pass),
            name: text(&fields.name),
            lang: text(&fields.lang),
            version: text(&fields.version),
            protocol: fields.protocol.unwrap_or(0),
        },
        client_tls: asker.tls.cloned(),
    }
}

/// Clients in the callout account may not publish requests of their own to the service.
pub(super) fn deny_callout_publish(permissions: &mut Option<natsd_auth::Permissions>) {
    let permissions = permissions.get_or_insert_with(natsd_auth::Permissions::default);
    permissions.publish.deny.get_or_insert_with(Vec::new).push(
        natsd_auth::permissions::Entry::parse(callout::CALLOUT_SUBJECT),
    );
}
