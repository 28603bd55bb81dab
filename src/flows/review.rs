//! An operator's review actions on one order: acknowledge the flag they saw (it is cleared
//! only if the order is still at the version they reviewed; the money state stays as the
//! provider's word left it) or resync (ask the provider now). Both need an operator (not a
//! viewer) and a note ([`parse_note`], the one check of every operator's note), and both
//! leave an event naming the operator with the note. It must not set a status nor decide
//! what an acknowledgement does: only `domain::observe` does, through the store's
//! compare-and-set.

use crate::domain::ids::MerOrderId;
use crate::domain::observe::{Acknowledgement, Observation, Seen};
use crate::domain::order::Source;
use crate::domain::record::Order;
use crate::flows::check::{self, Check, CheckOutcome};
use crate::flows::{may_act, FlowError, Gateway};
use crate::operators::Operator;
use crate::provider::{ProviderClient, QUERY_ATTEMPTS};
use crate::store::orders;
use unicode_general_category::{get_general_category, GeneralCategory};

/// Longest note, in characters: a sentence or two about what was checked, not a document.
pub const MAX_NOTE_CHARS: usize = 500;

/// What the operator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewAction {
    /// Clears the review flag: the operator has looked and settled it outside the gateway.
    Acknowledge,
    /// Asks the provider now, whatever the schedule.
    Resync,
}

impl ReviewAction {
    /// Every action.
    pub const ALL: [ReviewAction; 2] = [ReviewAction::Acknowledge, ReviewAction::Resync];

    /// The spelling in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAction::Acknowledge => "acknowledge",
            ReviewAction::Resync => "resync",
        }
    }

    /// Reads the spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What an action came to.
#[derive(Debug)]
pub enum ReviewOutcome {
    /// The flag is cleared; the order after.
    Acknowledged(Box<Order>),
    /// The provider was asked; the order before and after.
    Resynced(Box<Check>),
}

/// The note as kept: trimmed, required, at most [`MAX_NOTE_CHARS`] characters, no control
/// characters but line breaks and tabs, and no format characters (Unicode category `Cf`:
/// a right-to-left override, zero-width spaces and joiners, bidi isolates, a byte-order
/// mark…), which would make the note read differently on the timeline from what it holds.
/// The one check of every note an operator types.
pub fn parse_note(note: &str) -> Result<String, FlowError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(FlowError::field(
            "note",
            "is required: say what you checked and why",
        ));
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(FlowError::field(
            "note",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if note
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FlowError::field(
            "note",
            "must not contain control characters",
        ));
    }
    if let Some(c) = note.chars().find(|&c| is_format(c)) {
        return Err(FlowError::field(
            "note",
            format!(
                "must not contain invisible format characters (found U+{:04X}): type the note as it should read",
                u32::from(c)
            ),
        ));
    }
    Ok(note.to_owned())
}

/// Whether `c` is a format character (general category `Cf`): what [`parse_note`] refuses,
/// and what the console shows by its code in a note kept from before it did.
pub fn is_format(c: char) -> bool {
    get_general_category(c) == GeneralCategory::Format
}

/// Runs `action` on the order `id` for `by`, with `note`. An acknowledgement needs
/// `reviewed`, the order's version the operator looked at (the `version` field): it
/// clears the flag only if the order is still at that version, and otherwise answers
/// [`FlowError::ReviewChanged`] with the flag as it is now. A resync ignores it.
pub async fn review(
    gw: &Gateway,
    client: &ProviderClient,
    by: &Operator,
    id: MerOrderId,
    action: ReviewAction,
    note: &str,
    reviewed: Option<i64>,
) -> Result<ReviewOutcome, FlowError> {
    may_act(by)?;
    let actor = by.actor(Some(parse_note(note)?));
    let no_order = || FlowError::NotFound(format!("no order {id}"));
    match action {
        ReviewAction::Acknowledge => {
            let reviewed = reviewed.ok_or_else(|| {
                FlowError::field(
                    "version",
                    "is required: the order's version you reviewed (an acknowledgement clears only the flag you saw)",
                )
            })?;
            let obs = Observation::of(Seen::Acknowledged { reviewed }, Source::Operator, None)
                .by(Some(actor));
            let applied = gw.observe(&id, obs).await?.ok_or_else(no_order)?;
            // What the acknowledgement did is what the domain said of the order as the
            // write transaction read it.
            match applied.before.acknowledgement(reviewed) {
                Acknowledgement::Clears => {
                    Ok(ReviewOutcome::Acknowledged(Box::new(applied.change.after)))
                }
                Acknowledgement::NotFlagged => Err(FlowError::Conflict(format!(
                    "order {id} is not flagged for review"
                ))),
                Acknowledgement::Changed { version, reason } => Err(FlowError::ReviewChanged {
                    reviewed,
                    version,
                    reason,
                }),
            }
        }
        ReviewAction::Resync => {
            let order = {
                let id = id.clone();
                gw.db.run(move |c| orders::find(c, &id)).await?
            }
            .ok_or_else(no_order)?;
            let check = check::check(
                gw,
                client,
                order,
                Source::Operator,
                Some(&actor),
                QUERY_ATTEMPTS,
            )
            .await?;
            if check.outcome == CheckOutcome::Config {
                return Err(FlowError::ProviderMisconfigured(String::new()));
            }
            Ok(ReviewOutcome::Resynced(Box::new(check)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_required_trimmed_and_bounded() {
        assert_eq!(
            parse_note("  checked the bank statement \n").unwrap(),
            "checked the bank statement"
        );
        for bad in ["", "   \n", &"x".repeat(MAX_NOTE_CHARS + 1), "bell\u{7}"] {
            let e = parse_note(bad).unwrap_err();
            assert!(e.to_string().starts_with("note: "), "{bad:?}: {e}");
        }
        assert!(parse_note(&"字".repeat(MAX_NOTE_CHARS)).is_ok());
    }

    #[test]
    fn a_note_with_a_format_character_is_refused_naming_it() {
        for (c, code) in [
            ('\u{202E}', "U+202E"),
            ('\u{200B}', "U+200B"),
            ('\u{200D}', "U+200D"),
            ('\u{2060}', "U+2060"),
            ('\u{FEFF}', "U+FEFF"),
            ('\u{2066}', "U+2066"),
            ('\u{2069}', "U+2069"),
            ('\u{00AD}', "U+00AD"),
            ('\u{E0041}', "U+E0041"),
        ] {
            let e = parse_note(&format!("refunded{c} by hand")).unwrap_err();
            assert!(e.to_string().starts_with("note: "), "{code}: {e}");
            assert!(e.to_string().contains(code), "{code}: {e}");
        }
        assert!(parse_note("退款 1 分 — checked ✓ 👍🏽\nline two").is_ok());
    }

    #[test]
    fn actions_read_back_from_their_spelling() {
        for a in ReviewAction::ALL {
            assert_eq!(ReviewAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(ReviewAction::parse("approve"), None);
    }
}
