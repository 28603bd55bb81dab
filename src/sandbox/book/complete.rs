//! The completion of a pre-authorised payment (`preauthed`): which order may be completed,
//! with what, and the same completion answered again. It must not change anything but the
//! order's completion and the ids that find it.

use chrono::{DateTime, Utc};

use crate::domain::money::Amount;

use super::ids;
use super::lookup::Via;
use super::order::{Completion, Order, Phase};
use super::{conflict, Book, Refusal};

/// A completion request (`preauthed`), validated field by field.
#[derive(Clone, Debug)]
pub struct CompleteArgs {
    /// The completion's own id.
    pub mchnt_order_id: String,
    /// The pre-authorised order (any id that finds it).
    pub preauth_order_id: String,
    /// The authorisation code from the notification.
    pub auth_code: String,
    /// `bizType`.
    pub biz_type: String,
    /// The amount to take.
    pub amount: Amount,
}

/// A completion's outcome: the order after it, and the completion.
#[derive(Clone, Debug)]
pub struct Completed {
    /// The order after completion.
    pub order: Order,
    /// The completion itself.
    pub completion: Completion,
}

impl Book {
    /// Completes a pre-authorisation (`preauthed`). The same `mchntOrderId` again for the
    /// same order answers the completion already made, whatever the amount. Refused with
    /// [`Refusal::NotFound`] when no order has the `preauthOrderId`, [`Refusal::Conflict`]
    /// when the order is not an authorised pre-authorisation (unpaid, closed, plain payment,
    /// refunded, or completed under another `mchntOrderId`), [`Refusal::Duplicate`] when
    /// the `mchntOrderId` names another order or completion, [`Refusal::Invalid`] when a
    /// field does not match the authorisation.
    pub fn complete(
        &mut self,
        args: CompleteArgs,
        now: DateTime<Utc>,
    ) -> Result<Completed, Refusal> {
        let key = match self.find(&args.preauth_order_id, now) {
            Some((order, _)) => order.id.clone(),
            None => return Err(Refusal::NotFound(args.preauth_order_id)),
        };
        if let Some((owner, _)) = self.refs.get(&args.mchnt_order_id) {
            let again = *owner == key
                && self
                    .orders
                    .get(&key)
                    .and_then(|o| o.completion.as_ref())
                    .is_some_and(|c| c.mchnt_order_id == args.mchnt_order_id);
            if !again {
                return Err(duplicate_completion_id());
            }
        } else if self.orders.contains_key(&args.mchnt_order_id) && args.mchnt_order_id != key {
            return Err(duplicate_completion_id());
        }
        let order = self
            .orders
            .get_mut(&key)
            .ok_or_else(|| Refusal::NotFound(key.clone()))?;
        if let Some(done) = &order.completion {
            if done.mchnt_order_id == args.mchnt_order_id {
                return Ok(Completed {
                    completion: done.clone(),
                    order: order.clone(),
                });
            }
            return Err(conflict(format!("order {key} is already completed")));
        }
        let Some(payment) = order
            .payment
            .as_ref()
            .filter(|_| order.phase == Phase::Paid)
        else {
            return Err(conflict(format!("order {key} is not authorised")));
        };
        let Some(auth_code) = payment.auth_code.as_deref() else {
            return Err(conflict(format!(
                "order {key} was not paid with pre-authorisation"
            )));
        };
        if !order.refunded.is_zero() {
            return Err(conflict(format!("order {key} has been refunded")));
        }
        if auth_code != args.auth_code {
            return Err(Refusal::Invalid {
                field: "authIdRespCode",
                reason: "does not match the authorisation".into(),
            });
        }
        if args.biz_type != order.inst_mid {
            return Err(Refusal::Invalid {
                field: "bizType",
                reason: format!("must be the authorised order's {}", order.inst_mid),
            });
        }
        if args.amount > payment.amount {
            return Err(Refusal::Invalid {
                field: "totalAmt",
                reason: format!(
                    "{} fen exceeds the authorised {} fen",
                    args.amount, payment.amount
                ),
            });
        }
        let completion = Completion {
            mchnt_order_id: args.mchnt_order_id.clone(),
            amount: args.amount,
            plat_ssn: ids::seq_id(),
            target_order_id: ids::target_order_id(),
            completed_at: now,
        };
        order.completion = Some(completion.clone());
        let snapshot = order.clone();
        if args.mchnt_order_id != key {
            self.refs
                .insert(args.mchnt_order_id, (key.clone(), Via::Completion));
        }
        self.refs.insert(
            completion.target_order_id.clone(),
            (key, Via::CompletionTarget),
        );
        Ok(Completed {
            order: snapshot,
            completion,
        })
    }
}

/// A `mchntOrderId` that another order or completion already has.
fn duplicate_completion_id() -> Refusal {
    Refusal::Duplicate {
        field: "mchntOrderId",
        reason: "already used by another order".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chinaums::status::TradeStatus;
    use crate::sandbox::book::fixtures::{authorised, bill, fen, pay, t0};

    fn completion(preauth_order_id: &str, code: &str, amount: i64, id: &str) -> CompleteArgs {
        CompleteArgs {
            mchnt_order_id: id.into(),
            preauth_order_id: preauth_order_id.into(),
            auth_code: code.into(),
            biz_type: "QRPAYDEFAULT".into(),
            amount: fen(amount),
        }
    }

    #[test]
    fn a_completion_takes_at_most_the_authorised_amount_and_is_idempotent() {
        let mut book = Book::new();
        let (attempt, code) = authorised(&mut book);

        let above = book.complete(completion(&attempt, &code, 101, "1017DONE0001"), t0());
        let wrong_code = book.complete(completion(&attempt, "000000", 80, "1017DONE0001"), t0());
        let done = book
            .complete(completion(&attempt, &code, 80, "1017DONE0001"), t0())
            .unwrap();
        let again = book
            .complete(completion(&attempt, &code, 80, "1017DONE0001"), t0())
            .unwrap();
        let other = book.complete(completion(&attempt, &code, 80, "1017DONE0002"), t0());

        assert!(matches!(
            above,
            Err(Refusal::Invalid {
                field: "totalAmt",
                ..
            })
        ));
        let is_auth_refusal = matches!(
            wrong_code,
            Err(Refusal::Invalid {
                field: "authIdRespCode",
                ..
            })
        );
        assert!(is_auth_refusal);
        assert_eq!(done.completion.amount, fen(80));
        assert_eq!(done.order.trade_status(), TradeStatus::TradeSuccess);
        assert_eq!(again.completion.plat_ssn, done.completion.plat_ssn);
        assert!(matches!(other, Err(Refusal::Conflict(_))));
        let found = book
            .find("1017DONE0001", t0())
            .map(|(o, v)| (o.id.clone(), v));
        assert_eq!(found, Some(("1017AUTH0001".into(), Via::Completion)));
        assert_eq!(
            book.find("1017AUTH0001", t0()).unwrap().0.refundable(),
            fen(80)
        );
    }

    #[test]
    fn only_an_authorised_pre_authorisation_can_be_completed() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017PLAIN001", 100, false), t0())
            .unwrap();
        book.bind_bill(bill("QR2", "1017OPEN0001", 100, true), t0())
            .unwrap();
        let plain = pay(&mut book, "1017PLAIN001").unwrap();
        let code = "123456";

        let not_preauth = book.complete(completion(&plain.id, code, 1, "1017DONE0001"), t0());
        let unpaid = book.complete(completion("1017OPEN0001", code, 1, "1017DONE0002"), t0());
        let unknown = book.complete(completion("1017NOPE0001", code, 1, "1017DONE0003"), t0());
        let taken = book.complete(completion("1017OPEN0001", code, 1, "1017PLAIN001"), t0());

        assert!(matches!(not_preauth, Err(Refusal::Conflict(_))));
        assert!(matches!(unpaid, Err(Refusal::Conflict(_))));
        assert_eq!(
            unknown.unwrap_err(),
            Refusal::NotFound("1017NOPE0001".into())
        );
        assert!(matches!(
            taken,
            Err(Refusal::Duplicate {
                field: "mchntOrderId",
                ..
            })
        ));
    }
}
