//! The JetStream API's errors: `{code, err_code, description}`, each code with the HTTP-like
//! status and the words nats-server gives it (its `errors.json`).

use serde::Serialize;

/// An API error as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub code: u16,
    pub err_code: u16,
    pub description: String,
}

impl ApiError {
    pub fn new(code: u16, err_code: u16, description: impl Into<String>) -> Self {
        ApiError {
            code,
            err_code,
            description: description.into(),
        }
    }

    pub fn bad_request() -> Self {
        Self::new(400, 10003, "bad request")
    }

    pub fn invalid_json(detail: &str) -> Self {
        Self::new(400, 10025, format!("invalid JSON: {detail}"))
    }

    pub fn maximum_streams() -> Self {
        Self::new(400, 10027, "maximum number of streams reached")
    }

    pub fn memory_exceeded() -> Self {
        Self::new(500, 10028, "insufficient memory resources available")
    }

    pub fn no_message_found() -> Self {
        Self::new(404, 10037, "no message found")
    }

    pub fn not_enabled_for_account() -> Self {
        Self::new(503, 10039, "JetStream not enabled for account")
    }

    pub fn sequence_not_found(seq: u64) -> Self {
        Self::new(400, 10043, format!("sequence {seq} not found"))
    }

    pub fn storage_exceeded() -> Self {
        Self::new(500, 10047, "insufficient storage resources available")
    }

    pub fn stream_create(detail: impl Into<String>) -> Self {
        Self::new(500, 10049, detail)
    }

    pub fn stream_general(detail: impl Into<String>) -> Self {
        Self::new(500, 10051, detail)
    }

    pub fn invalid_config(detail: impl Into<String>) -> Self {
        Self::new(500, 10052, detail)
    }

    pub fn message_exceeds_maximum() -> Self {
        Self::new(400, 10054, "message size exceeds maximum allowed")
    }

    pub fn mirror_not_updatable() -> Self {
        Self::new(400, 10055, "stream mirror configuration can not be updated")
    }

    pub fn stream_mismatch() -> Self {
        Self::new(400, 10056, "stream name in subject does not match request")
    }

    pub fn msg_delete_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10057, detail)
    }

    pub fn stream_name_exists() -> Self {
        Self::new(
            400,
            10058,
            "stream name already in use with a different configuration",
        )
    }

    pub fn stream_not_found() -> Self {
        Self::new(404, 10059, "stream not found")
    }

    pub fn expected_stream_mismatch() -> Self {
        Self::new(400, 10060, "expected stream does not match")
    }

    pub fn replicas_not_updatable() -> Self {
        Self::new(400, 10061, "Replicas configuration can not be updated")
    }

    pub fn subjects_overlap() -> Self {
        Self::new(400, 10065, "subjects overlap with an existing stream")
    }

    pub fn wrong_last_msg_id(last: &str) -> Self {
        Self::new(400, 10070, format!("wrong last msg ID: {last}"))
    }

    pub fn wrong_last_sequence(seq: u64) -> Self {
        Self::new(400, 10071, format!("wrong last sequence: {seq}"))
    }

    pub fn replicas_not_supported() -> Self {
        Self::new(
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode",
        )
    }

    pub fn store_failed(detail: impl Into<String>) -> Self {
        Self::new(503, 10077, detail)
    }

    pub fn header_exceeds_maximum() -> Self {
        Self::new(400, 10097, "header size exceeds maximum allowed of 64k")
    }

    pub fn sealed() -> Self {
        Self::new(400, 10109, "invalid operation on sealed stream")
    }

    pub fn purge_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10110, detail)
    }

    pub fn rollup_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10111, detail)
    }

    pub fn max_bytes_required() -> Self {
        Self::new(
            400,
            10113,
            "account requires a stream config to have max bytes set",
        )
    }

    pub fn max_stream_bytes_exceeded() -> Self {
        Self::new(
            400,
            10122,
            "stream max bytes exceeds account limit max stream bytes",
        )
    }

    pub fn replicas_negative() -> Self {
        Self::new(400, 10133, "replicas count cannot be negative")
    }

    pub fn pedantic(detail: &str) -> Self {
        Self::new(400, 10157, format!("pedantic mode: {detail}"))
    }

    pub fn wrong_last_sequence_constant() -> Self {
        Self::new(400, 10164, "wrong last sequence")
    }

    pub fn message_ttl_invalid() -> Self {
        Self::new(400, 10165, "invalid per-message TTL")
    }

    pub fn message_ttl_disabled() -> Self {
        Self::new(400, 10166, "per-message TTL is disabled")
    }

    pub fn required_api_level() -> Self {
        Self::new(412, 10185, "JetStream minimum api level required")
    }

    pub fn not_enabled() -> Self {
        Self::new(503, 10076, "JetStream not enabled")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_nats_server_field_order() {
        let text = serde_json::to_string(&ApiError::stream_not_found()).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"code":404,"err_code":10059,"description":"stream not found"}"#
        );
    }

    #[test]
    fn formats_the_detail_into_the_description() {
        assert_eq!(
            ApiError::wrong_last_sequence(7).description,
            "wrong last sequence: 7"
        );
        assert_eq!(
            ApiError::pedantic("max_msgs must be set to -1").description,
            "pedantic mode: max_msgs must be set to -1"
        );
    }
}
