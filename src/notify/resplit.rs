//! Fields that could have been re-split. A notice's signing string is `name=value&…` plus
//! the key, with no escaping (docs/protocol.md §5), so one signed string splits into fields
//! more than one way: a field folded into its sorted neighbour's value
//! (`instMid=QRPAYDEFAULT&mid=898340149000099` as `instMid`, `mid` gone), a neighbour folded
//! into a field's value, or a pair hidden in a field's name. Owns the refusal of a verified
//! notice whose fields the gateway reads could be such a re-split; it reads names and values
//! only, and must not decide anything about an order or a contract, nor put a value (which
//! may be a buyer's) into its words.

use serde_json::Value;

use super::{RejectReason, Rejection};
use crate::chinaums::form::Form;

/// Longest field name quoted in a refusal: a name is the sender's (once re-split), so what is
/// journaled of it is bounded.
const MAX_NAME_CHARS: usize = 40;

/// The one field whose value is Base64, where `=` is the padding at its end: the contract
/// notice's `contractId` (seed 004).
const BASE64_FIELD: &str = "contractId";

/// What a field the gateway reads holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Ids, statuses, amounts, dates, `mid`, `tid`, `instMid`: never `&` nor `=`.
    Plain,
    /// Base64 text: never `&`, and `=` only as the padding that ends it.
    Base64,
    /// A JSON object carried as text (`billPayment`): its read members are plain.
    Json(&'static [&'static str]),
}

/// The fields the gateway reads from one kind of notice, and for those that carry a JSON
/// object, the members it reads.
#[derive(Clone, Copy, Debug)]
pub struct Read {
    /// The top-level fields read.
    pub fields: &'static [&'static str],
    /// `(field, members)` for a field that is a JSON object carried as text.
    pub nested: &'static [(&'static str, &'static [&'static str])],
}

impl Read {
    fn shape(&self, name: &str) -> Option<Shape> {
        if !self.fields.contains(&name) {
            return None;
        }
        Some(match self.nested.iter().find(|(field, _)| *field == name) {
            Some((_, members)) => Shape::Json(members),
            None if name == BASE64_FIELD => Shape::Base64,
            None => Shape::Plain,
        })
    }
}

/// Refuses a notice whose fields could have been re-split without changing its signature:
/// a name holding `&` or `=`; a field the gateway reads (`read`) holding `&` or `=` (inside
/// a JSON one, a member it reads; a JSON one that does not read as JSON must not hold `&`);
/// or any field, free text and URLs included, carrying `&<a field it reads>=`, the trace of
/// that field folded into it. Empty fields are not signed, so they are not looked at. The
/// refusal names the field, never its value.
pub fn refuse_resplit(form: &Form, read: &Read) -> Result<(), Rejection> {
    for (name, value) in form.pairs() {
        if value.is_empty() {
            continue;
        }
        if name.contains(['&', '=']) {
            let shown: String = name.chars().take(MAX_NAME_CHARS).collect();
            return Err(ambiguous(
                &format!("{shown:?}"),
                "a field name holds '&' or '='",
            ));
        }
        match read.shape(name) {
            Some(Shape::Plain) if value.contains(['&', '=']) => {
                return Err(ambiguous(name, "holds '&' or '='"));
            }
            Some(Shape::Base64) if value.trim_end_matches('=').contains(['&', '=']) => {
                return Err(ambiguous(
                    name,
                    "holds '&', or '=' before its Base64 padding",
                ));
            }
            Some(Shape::Json(members)) => json_members(name, value, members)?,
            Some(_) | None => {}
        }
        if let Some(folded) = read
            .fields
            .iter()
            .find(|field| value.contains(&format!("&{field}=")))
        {
            return Err(ambiguous(
                name,
                &format!("carries \"&{folded}=\", as if {folded} had been folded into it"),
            ));
        }
    }
    Ok(())
}

/// A JSON object carried as text: the members the gateway reads hold no `&` nor `=`. Text
/// that is not a JSON object is kept raw and ignored elsewhere; here it must hold no `&`,
/// since `{…}&next=…` is a neighbour folded into it.
fn json_members(name: &str, value: &str, members: &[&str]) -> Result<(), Rejection> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(value) else {
        return match value.contains('&') {
            true => Err(ambiguous(name, "is not a JSON object and holds '&'")),
            false => Ok(()),
        };
    };
    for member in members {
        if let Some(Value::String(text)) = object.get(*member) {
            if text.contains(['&', '=']) {
                return Err(ambiguous(&format!("{name}.{member}"), "holds '&' or '='"));
            }
        }
    }
    Ok(())
}

/// Which way a field is re-split out of a signed notice by [`refolded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    /// The field folded into the value of the field before it in the signing order
    /// (`instMid=QRPAYDEFAULT&mid=…` as `instMid`, `mid` gone).
    IntoPrevious,
    /// The next field in the signing order folded into the field's value.
    NextIntoIt,
}

impl Fold {
    /// Both ways.
    pub const ALL: [Fold; 2] = [Fold::IntoPrevious, Fold::NextIntoIt];
}

/// A signed notice's fields (`sign` among them) with `field` re-split `fold`: its signing
/// string, and so its `sign`, unchanged. What an attacker holding one genuine notice can
/// send; `None` when `field` is absent or has no neighbour that way. For tests.
pub fn refolded(
    signed: &[(String, String)],
    field: &str,
    fold: Fold,
) -> Option<Vec<(String, String)>> {
    let sign = crate::chinaums::notify_sign::SIGN_FIELD;
    let mut sorted: Vec<(String, String)> = signed
        .iter()
        .filter(|(name, value)| name != sign && !value.is_empty())
        .cloned()
        .collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let at = sorted.iter().position(|(name, _)| name == field)?;
    let (into, gone) = match fold {
        Fold::IntoPrevious => (at.checked_sub(1)?, at),
        Fold::NextIntoIt => (at, at.checked_add(1)?),
    };
    let (name, value) = sorted.get(gone)?.clone();
    let kept = sorted.get_mut(into)?;
    kept.1 = format!("{}&{name}={value}", kept.1);
    sorted.remove(gone);
    sorted.extend(signed.iter().filter(|(name, _)| name == sign).cloned());
    Some(sorted)
}

/// The refusal of a notice whose `field` could have been re-split, and why.
fn ambiguous(field: &str, why: &str) -> Rejection {
    Rejection::new(
        RejectReason::Malformed,
        format!(
            "{field}: {why}; the signing string has no escaping, so its fields may have been \
             re-split without changing the signature"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: Read = Read {
        fields: &["billNo", "billPayment", "billStatus", "contractId", "mid"],
        nested: &[("billPayment", &["merOrderId", "status"])],
    };

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::parse(Form::encode(pairs).as_bytes()).unwrap()
    }

    /// The refusal's detail, or `None` when the fields pass.
    fn refusal(pairs: &[(&str, &str)]) -> Option<String> {
        refuse_resplit(&form(pairs), &READ).err().map(|r| {
            assert_eq!(r.reason, RejectReason::Malformed);
            r.detail
        })
    }

    #[test]
    fn a_field_the_gateway_reads_holding_an_ampersand_or_equals_is_refused_naming_it() {
        for value in ["PAID&mid=898340149000099", "PAID=", "A&B"] {
            let detail = refusal(&[("billNo", "1017B1"), ("billStatus", value)]).unwrap();

            assert!(detail.starts_with("billStatus: holds"), "{detail}");
            assert!(
                !detail.contains(value),
                "the value is never quoted: {detail}"
            );
        }
    }

    #[test]
    fn any_field_carrying_a_read_fields_name_after_an_ampersand_is_refused_naming_the_carrier() {
        // `memo` is free text and `billQRCode` a URL: both may hold `&` and `=`, but not the
        // trace of a field the gateway reads folded into them.
        for carrier in ["memo", "billQRCode", "Qx"] {
            let detail = refusal(&[(carrier, "https://q/x?id=1&mid=898340149000099")]).unwrap();

            assert!(
                detail.starts_with(&format!("{carrier}: carries \"&mid=\"")),
                "{detail}"
            );
        }
    }

    #[test]
    fn free_text_and_urls_may_hold_ampersands_and_equals_of_their_own() {
        let pairs = [
            (
                "billQRCode",
                "https://qr.example/bills/qrCode.do?id=3194&x=1",
            ),
            ("memo", "a=b & c"),
            ("billNo", "1017B1"),
            ("billStatus", "PAID"),
            ("contractId", "Q09OVFJBQ1QtMDAwMQ=="),
            (
                "billPayment",
                r#"{"merOrderId":"1017B10","payDetail":"a&b=c"}"#,
            ),
        ];

        assert_eq!(refusal(&pairs), None);
    }

    #[test]
    fn a_name_holding_an_ampersand_or_equals_is_refused() {
        let detail = refusal(&[("billStatus=PAID&mid", "898340149000099")]).unwrap();

        assert!(detail.contains("a field name holds"), "{detail}");
    }

    #[test]
    fn base64_may_end_in_padding_but_hold_no_other_equals_or_ampersand() {
        assert_eq!(refusal(&[("contractId", "abc=")]), None);
        for value in ["ab=c", "abc==&x"] {
            let detail = refusal(&[("contractId", value)]).unwrap();

            assert!(detail.starts_with("contractId: holds"), "{detail}");
        }
    }

    #[test]
    fn a_json_field_is_refused_for_a_read_member_with_an_ampersand_or_for_a_neighbour_folded_in() {
        let member = refusal(&[("billPayment", r#"{"status":"TRADE_SUCCESS&x=1"}"#)]).unwrap();
        let folded =
            refusal(&[("billPayment", r#"{"status":"TRADE_SUCCESS"}&billQRCode=x"#)]).unwrap();

        assert!(member.starts_with("billPayment.status: holds"), "{member}");
        assert!(
            folded.starts_with("billPayment: is not a JSON object"),
            "{folded}"
        );
        // Cut or odd text without `&` is left to the reader, which keeps it raw.
        assert_eq!(refusal(&[("billPayment", "{\"status\":")]), None);
    }

    #[test]
    fn a_refolded_notice_keeps_its_signing_string_and_so_its_signature() {
        use crate::chinaums::notify_sign::{self, SignType};
        let key = crate::notify::testing::KEY;
        let signed = notify_sign::with_sign(
            &[
                ("Qx", "AbCd"),
                ("instMid", "QRPAYDEFAULT"),
                ("mid", "898340149000099"),
            ],
            key,
            SignType::Md5,
        );

        let into = refolded(&signed, "mid", Fold::IntoPrevious).unwrap();
        let next = refolded(&signed, "instMid", Fold::NextIntoIt).unwrap();

        assert_eq!(into, next);
        assert!(into.contains(&("instMid".into(), "QRPAYDEFAULT&mid=898340149000099".into())));
        assert!(!into.iter().any(|(n, _)| n == "mid"));
        assert_eq!(notify_sign::verify(&into, &[key]), Ok(0));
        assert_eq!(refolded(&signed, "Qx", Fold::IntoPrevious), None);
        assert_eq!(refolded(&signed, "mid", Fold::NextIntoIt), None);
    }

    #[test]
    fn empty_fields_are_not_signed_and_not_looked_at() {
        assert_eq!(refusal(&[("billStatus", ""), ("a=b", "")]), None);
    }
}
