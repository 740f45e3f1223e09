use thiserror::Error;

/// Why the parser refused a client's input. Every variant ends the connection; the server
/// decides which `-ERR` text (if any) precedes the close, see [`ParseError::client_error`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A byte that cannot start or continue any operation.
    #[error("unknown protocol operation")]
    UnknownOperation,
    /// The argument text of a control line is longer than `max_control_line`.
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// The declared size of a publish is above `max_payload`.
    #[error("maximum payload violation: {size} vs {max}")]
    MaxPayload { size: usize, max: usize },
    /// Arguments that do not parse; nats-server closes such connections without an `-ERR`.
    #[error("protocol violation: bad {0}")]
    Violation(&'static str),
}

impl ParseError {
    /// The `-ERR` text nats-server sends before closing, or `None` for a silent close.
    pub fn client_error(&self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOperation => Some(crate::errors::UNKNOWN_PROTOCOL_OPERATION),
            ParseError::MaxControlLine => Some(crate::errors::MAX_CONTROL_LINE_EXCEEDED),
            ParseError::MaxPayload { .. } => Some(crate::errors::MAX_PAYLOAD_VIOLATION),
            ParseError::Violation(_) => None,
        }
    }
}
