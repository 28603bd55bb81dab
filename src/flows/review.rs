//! An operator's review actions on one order: acknowledge the flag (it is cleared, the
//! money state stays as the provider's word left it) or resync (ask the provider now). Both
//! need an operator (not a viewer) and a note, and both leave an event naming the operator
//! with the note. It must not set a status: only the provider's word moves money state,
//! through `domain::observe`.

use crate::domain::ids::MerOrderId;
use crate::domain::observe::{Observation, Seen};
use crate::domain::order::Source;
use crate::domain::record::Order;
use crate::flows::check::{self, Check, CheckOutcome};
use crate::flows::{may_act, FlowError, Gateway};
use crate::operators::Operator;
use crate::provider::{ProviderClient, QUERY_ATTEMPTS};
use crate::store::orders;

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
/// characters but line breaks and tabs.
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
    Ok(note.to_owned())
}

/// Runs `action` on the order `id` for `by`, with `note`.
pub async fn review(
    gw: &Gateway,
    client: &ProviderClient,
    by: &Operator,
    id: MerOrderId,
    action: ReviewAction,
    note: &str,
) -> Result<ReviewOutcome, FlowError> {
    may_act(by)?;
    let actor = by.actor(Some(parse_note(note)?));
    let order = {
        let id = id.clone();
        gw.db.run(move |c| orders::find(c, &id)).await?
    }
    .ok_or_else(|| FlowError::NotFound(format!("no order {id}")))?;
    match action {
        ReviewAction::Acknowledge => {
            let not_flagged =
                || FlowError::Conflict(format!("order {id} is not flagged for review"));
            if !order.needs_review() {
                return Err(not_flagged());
            }
            let obs = Observation::of(Seen::Acknowledged, Source::Operator, None).by(Some(actor));
            let applied = gw
                .observe(&id, obs)
                .await?
                .ok_or_else(|| FlowError::NotFound(format!("no order {id}")))?;
            // Another operator may have cleared it a moment before.
            if !applied.change.changed(&applied.before) {
                return Err(not_flagged());
            }
            Ok(ReviewOutcome::Acknowledged(Box::new(applied.change.after)))
        }
        ReviewAction::Resync => {
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
    fn actions_read_back_from_their_spelling() {
        for a in ReviewAction::ALL {
            assert_eq!(ReviewAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(ReviewAction::parse("approve"), None);
    }
}
