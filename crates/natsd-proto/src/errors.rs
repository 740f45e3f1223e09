//! The `-ERR` texts nats-server sends to clients, in one place so tests can pin them.

pub const UNKNOWN_PROTOCOL_OPERATION: &str = "Unknown Protocol Operation";
pub const MAX_CONTROL_LINE_EXCEEDED: &str = "maximum control line exceeded";
pub const MAX_PAYLOAD_VIOLATION: &str = "Maximum Payload Violation";
pub const AUTHORIZATION_VIOLATION: &str = "Authorization Violation";
pub const AUTHENTICATION_TIMEOUT: &str = "Authentication Timeout";
pub const USER_AUTHENTICATION_EXPIRED: &str = "User Authentication Expired";
pub const USER_AUTHENTICATION_REVOKED: &str = "User Authentication Revoked";
pub const ACCOUNT_AUTHENTICATION_EXPIRED: &str = "Account Authentication Expired";
pub const STALE_CONNECTION: &str = "Stale Connection";
pub const INVALID_SUBJECT: &str = "Invalid Subject";
pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
pub const MAX_SUBSCRIPTIONS_EXCEEDED: &str = "maximum subscriptions exceeded";
pub const MAX_CONNECTIONS_EXCEEDED: &str = "maximum connections exceeded";
pub const MAX_ACCOUNT_CONNECTIONS_EXCEEDED: &str = "maximum account active connections exceeded";
pub const INVALID_CLIENT_PROTOCOL: &str = "invalid client protocol";
pub const NO_RESPONDERS_REQUIRES_HEADERS: &str = "no responders requires headers support";
