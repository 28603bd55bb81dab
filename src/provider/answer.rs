//! What an answer says: its `errCode` and text, whether it states a result, and what it is
//! about, to compare with the question ([`About`]). It must not classify or send.

use serde::de::DeserializeOwned;

use crate::chinaums::wire::{
    BillQueryResponse, MiniPreQueryResponse, PreauthedResponse, UpdateQrcodeResponse,
};

/// Answers that carry an `errCode`.
pub trait Answer: DeserializeOwned {
    /// The `errCode` (empty when the answer carries none).
    fn err_code(&self) -> &str;
    /// `errMsg` or `errInfo`.
    fn err_text(&self) -> Option<&str>;
    /// Whether the answer states a result (a query's `status`/`billStatus`): such an answer
    /// without `errCode` is still read.
    fn states_a_result(&self) -> bool {
        false
    }
    /// What the answer says it is about, to compare with the question.
    fn about(&self) -> About<'_> {
        About::default()
    }
}

/// What a query asks about, or what its answer names: the id (`merOrderId` or `billNo`),
/// `mid` and `tid`. An absent or empty field in an answer names nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct About<'a> {
    /// The id field's wire name and value.
    pub id: Option<(&'static str, &'a str)>,
    /// The merchant.
    pub mid: Option<&'a str>,
    /// The terminal.
    pub tid: Option<&'a str>,
}

impl About<'_> {
    /// The first field where `answer` names something other than `self` (the question),
    /// and a description of the difference. Fields the answer leaves out do not differ.
    pub(super) fn differs(&self, answer: &About<'_>) -> Option<(&'static str, String)> {
        let pairs = [
            (
                self.id.map(|i| i.0).unwrap_or("merOrderId"),
                self.id.map(|i| i.1),
                answer.id.map(|i| i.1),
            ),
            ("mid", self.mid, answer.mid),
            ("tid", self.tid, answer.tid),
        ];
        pairs.into_iter().find_map(|(field, asked, said)| {
            match (asked, said.filter(|v| !v.is_empty())) {
                (Some(asked), Some(said)) if asked != said => Some((
                    field,
                    format!("answer is about {field} {said}, the question was about {asked}"),
                )),
                _ => None,
            }
        })
    }
}

macro_rules! answer {
    ($($t:ty),+) => {$(
        impl Answer for $t {
            fn err_code(&self) -> &str {
                &self.err_code
            }
            fn err_text(&self) -> Option<&str> {
                <$t>::err_text(self)
            }
        }
    )+};
}
answer!(UpdateQrcodeResponse, PreauthedResponse);

impl Answer for MiniPreQueryResponse {
    fn err_code(&self) -> &str {
        &self.err_code
    }
    fn err_text(&self) -> Option<&str> {
        MiniPreQueryResponse::err_text(self)
    }
    fn states_a_result(&self) -> bool {
        self.status.is_some()
    }
    fn about(&self) -> About<'_> {
        About {
            id: self.mer_order_id.as_deref().map(|v| ("merOrderId", v)),
            mid: self.mid.as_deref(),
            tid: self.tid.as_deref(),
        }
    }
}

impl Answer for BillQueryResponse {
    fn err_code(&self) -> &str {
        &self.err_code
    }
    fn err_text(&self) -> Option<&str> {
        BillQueryResponse::err_text(self)
    }
    fn states_a_result(&self) -> bool {
        self.bill_status.is_some()
    }
    fn about(&self) -> About<'_> {
        About {
            id: self.bill_no.as_deref().map(|v| ("billNo", v)),
            mid: self.mid.as_deref(),
            tid: self.tid.as_deref(),
        }
    }
}
