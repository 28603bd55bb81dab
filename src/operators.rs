//! Who is at the operators' routes and console: named operators with a role, and the
//! roster that recognises one (or one of the API's backends) by the token presented. It must not log or show a token, nor
//! reveal which operator's token a refused one was close to.

use std::fmt;

use serde::Deserialize;

use crate::domain::observe::Actor;
use crate::secret::Secret;

/// What an operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything an operator sees; acts on nothing.
    Viewer,
    /// Reads, and acts: resyncs, acknowledges reviews, redelivers webhooks.
    Operator,
}

impl Role {
    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed-in operator: who, and with which role. Every action is recorded with the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The configured name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// What they may do.
    pub role: Role,
}

impl Operator {
    /// Whether this operator may act (not only read).
    pub fn can_act(&self) -> bool {
        self.role == Role::Operator
    }

    /// This operator as the cause of an observation, with their `note`.
    pub fn actor(&self, note: Option<String>) -> Actor {
        Actor {
            operator: self.name.clone(),
            note,
        }
    }
}

/// The name under which the single `admin.token` acts.
pub const LEGACY_ADMIN_NAME: &str = "admin";

/// Every holder of a bearer token with their token: the operators (`Roster<Operator>`, the
/// default), or the backends of the API (`Roster<String>`, each by its configured name).
#[derive(Clone, Debug)]
pub struct Roster<Who = Operator>(Vec<(Who, Secret)>);

impl<Who> Default for Roster<Who> {
    fn default() -> Self {
        Roster(Vec::new())
    }
}

impl<Who: Clone> Roster<Who> {
    /// A roster of these holders and tokens (names and tokens are unique: the
    /// configuration refuses duplicates).
    pub fn new(entries: Vec<(Who, Secret)>) -> Self {
        Roster(entries)
    }

    /// Whether no token is configured (the routes it guards are then disabled, or open
    /// where the configuration allows that).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Who holds the token `presented`. Every token is compared, each in constant time, so
    /// that the time taken tells nothing about which one (if any) matched.
    pub fn authenticate(&self, presented: &[u8]) -> Option<Who> {
        let mut found = None;
        for (operator, token) in &self.0 {
            if token.matches(presented) && found.is_none() {
                found = Some(operator.clone());
            }
        }
        found
    }
}

impl Roster<Operator> {
    /// The operator named `name`, as configured now (a console session names its operator;
    /// one no longer configured is signed out, one whose role changed has the new role).
    pub fn named(&self, name: &str) -> Option<Operator> {
        self.0
            .iter()
            .find(|(o, _)| o.name == name)
            .map(|(o, _)| o.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        Roster::new(vec![
            (
                Operator {
                    name: "alice".into(),
                    role: Role::Operator,
                },
                Secret::new("alice-token-0123456789"),
            ),
            (
                Operator {
                    name: "victor".into(),
                    role: Role::Viewer,
                },
                Secret::new("victor-token-0123456789"),
            ),
        ])
    }

    #[test]
    fn each_token_names_its_own_operator_and_role() {
        let r = roster();

        let alice = r.authenticate(b"alice-token-0123456789").unwrap();
        let victor = r.authenticate(b"victor-token-0123456789").unwrap();

        assert_eq!((alice.name.as_str(), alice.can_act()), ("alice", true));
        assert_eq!((victor.name.as_str(), victor.can_act()), ("victor", false));
    }

    #[test]
    fn an_unknown_or_partial_token_names_nobody() {
        let r = roster();

        assert_eq!(r.authenticate(b"alice-token-012345678"), None);
        assert_eq!(r.authenticate(b""), None);
        assert_eq!(
            Roster::<Operator>::default().authenticate(b"anything"),
            None
        );
    }
}
