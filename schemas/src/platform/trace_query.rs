//! `instadash.platform.trace-query`: the trace view asks every instance for the spans it keeps of
//! one trace (broadcast on the events exchange; the answers are `trace-spans` events).

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    /// Names the trace by its id, or by the id of an event of it; at least one of the two.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TraceQuery {
        /// Chosen by the asker; every answer repeats it.
        pub query_id: String,
        /// W3C trace id: 32 lowercase hex digits.
        #[serde(default)]
        pub trace_id: Option<String>,
        /// CloudEvents id of an event of the trace.
        #[serde(default)]
        pub event_id: Option<String>,
    }

    contract! {
        TraceQuery {
            type: "instadash.platform.trace-query",
            version: 1,
            file: "platform/trace-query",
            encodings: [Json],
            example: TraceQuery {
                query_id: "01a2014c-f1d2-7c3e-9a51-3c0d8e2b4f61".into(),
                trace_id: None,
                event_id: Some("01a2014c-efe3-7651-8879-74c559175d3c".into()),
            },
        }
    }
}
