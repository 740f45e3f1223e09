//! Authentication and authorization decisions for natsd, without I/O.
//!
//! - [`secret`]: passwords and tokens, plain (compared in constant time) or bcrypt hashes.
//! - [`callout`]: auth callout's authorization requests and the judging of the service's
//!   answers.
//! - [`jwt`]: operator, account and user JWTs, and the trust chain between them.
//! - [`nkey`]: the nonce a server offers and the Ed25519 signature a client returns.
//! - [`permissions`]: publish and subscribe allow/deny lists (with queue entries), the
//!   delivery-time deny filter, and `allow_responses`.
//! - [`users`]: the configured users and tokens, and [`users::Authenticator::authenticate`],
//!   which turns what a client presented in CONNECT into an identity or a refusal.
//!
//! The server asks; nothing here touches a socket, a clock or a file.

pub mod callout;
pub mod jwt;
pub mod nkey;
pub mod permissions;
pub mod secret;
pub mod users;

pub use callout::AuthCallout;
pub use permissions::{Permissions, ResponsePermission, SubjectRule};
pub use users::{AuthError, Authenticator, Credentials, Identity, User};
