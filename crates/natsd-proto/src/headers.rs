//! `NATS/1.0` header blocks: a version line with an optional status code and description,
//! then `Name: value` lines and an empty line, all CRLF-terminated.

use thiserror::Error;

const VERSION: &str = "NATS/1.0";

/// A decoded header block. Names keep their case and may repeat, as on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    pub status: Option<u16>,
    pub description: Option<String>,
    pub entries: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    #[error("header block does not start with NATS/1.0")]
    BadVersion,
    #[error("header block is not terminated by an empty line")]
    Unterminated,
    #[error("bad status code in header block")]
    BadStatus,
    #[error("header line without a colon")]
    BadLine,
    #[error("header block is not valid UTF-8")]
    NotUtf8,
}

impl HeaderBlock {
    /// A status-only block such as `NATS/1.0 503`.
    pub fn status(code: u16, description: Option<&str>) -> Self {
        HeaderBlock {
            status: Some(code),
            description: description.map(str::to_owned),
            entries: Vec::new(),
        }
    }

    pub fn insert(mut self, name: &str, value: &str) -> Self {
        self.entries.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `payload` (a header block of `header_len` bytes, then the body) with the header
    /// `name` set to `value`, and the new header block's length. Earlier values of `name`
    /// go and the new one comes last, as nats-server sets a header. `None` when the block
    /// does not decode.
    pub fn set_in(
        payload: &[u8],
        header_len: usize,
        name: &str,
        value: &str,
    ) -> Option<(Vec<u8>, usize)> {
        let (block, body) = (payload.get(..header_len)?, payload.get(header_len..)?);
        let mut headers = if header_len == 0 {
            HeaderBlock::default()
        } else {
            HeaderBlock::decode(block).ok()?
        };
        headers.entries.retain(|(n, _)| n != name);
        let encoded = headers.insert(name, value).encode();
        let new_len = encoded.len();
        let mut out = encoded;
        out.extend_from_slice(body);
        Some((out, new_len))
    }

    /// The first value of `name` (names compare case-sensitively, as in nats-server).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, compared ignoring ASCII case (as W3C headers are).
    pub fn values_ignoring_case<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn decode(block: &[u8]) -> Result<Self, HeaderError> {
        let text = std::str::from_utf8(block).map_err(|_| HeaderError::NotUtf8)?;
        let body = text
            .strip_suffix("\r\n\r\n")
            .ok_or(HeaderError::Unterminated)?;
        let mut lines = body.split("\r\n");
        let first = lines.next().ok_or(HeaderError::BadVersion)?;
        let status_part = first.strip_prefix(VERSION).ok_or(HeaderError::BadVersion)?;
        let mut decoded = HeaderBlock::default();
        let status_part = status_part.trim_start();
        if !status_part.is_empty() {
            let (code, description) = match status_part.split_once(' ') {
                Some((code, rest)) => (code, Some(rest.trim())),
                None => (status_part, None),
            };
            if code.len() != 3 {
                return Err(HeaderError::BadStatus);
            }
            decoded.status = Some(code.parse().map_err(|_| HeaderError::BadStatus)?);
            decoded.description = description.filter(|d| !d.is_empty()).map(str::to_owned);
        }
        for line in lines {
            let (name, value) = line.split_once(':').ok_or(HeaderError::BadLine)?;
            decoded
                .entries
                .push((name.to_owned(), value.trim().to_owned()));
        }
        Ok(decoded)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from(VERSION);
        if let Some(code) = self.status {
            out.push(' ');
            out.push_str(&code.to_string());
            if let Some(description) = &self.description {
                out.push(' ');
                out.push_str(description);
            }
        }
        out.push_str("\r\n");
        for (name, value) in &self.entries {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_responders_block_matches_nats_server() {
        let block = HeaderBlock::status(503, None).insert("Nats-Subject", "foo");
        let bytes = block.encode();
        assert_eq!(bytes, b"NATS/1.0 503\r\nNats-Subject: foo\r\n\r\n");
        assert_eq!(bytes.len(), 32 + 3);
        assert_eq!(HeaderBlock::decode(&bytes), Ok(block));
    }

    #[test]
    fn decodes_status_with_description_and_repeats() {
        let block =
            HeaderBlock::decode(b"NATS/1.0 408 Request Timeout\r\nA: 1\r\nA: 2\r\n\r\n").unwrap();
        assert_eq!(block.status, Some(408));
        assert_eq!(block.description.as_deref(), Some("Request Timeout"));
        assert_eq!(block.entries.len(), 2);
        assert_eq!(block.get("A"), Some("1"));
        assert_eq!(block.get("a"), None);
    }

    #[test]
    fn rejects_malformed_blocks() {
        assert_eq!(
            HeaderBlock::decode(b"HTTP/1.1\r\n\r\n"),
            Err(HeaderError::BadVersion)
        );
        assert_eq!(
            HeaderBlock::decode(b"NATS/1.0\r\n"),
            Err(HeaderError::Unterminated)
        );
        assert_eq!(
            HeaderBlock::decode(b"NATS/1.0 5x3\r\n\r\n"),
            Err(HeaderError::BadStatus)
        );
        assert_eq!(
            HeaderBlock::decode(b"NATS/1.0\r\nnocolon\r\n\r\n"),
            Err(HeaderError::BadLine)
        );
    }
}
