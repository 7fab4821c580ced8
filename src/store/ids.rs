//! Identifier newtypes of the stored entities. The database keys are plain integers; these types
//! keep an evaluation's id from being passed where a unit's is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                Self(v)
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse::<i64>().map(Self)
            }
        }
    };
}

id_newtype!(
    /// An evaluation (评估项目: one year's or wave's assessment programme).
    EvaluationId
);
id_newtype!(
    /// An evaluated unit (被评单位) in the unit register.
    UnitId
);
id_newtype!(
    /// A firm's upload batch.
    BatchId
);
id_newtype!(
    /// A signed-in user.
    UserId
);
id_newtype!(
    /// A finding (整改事项) of the rectification loop.
    FindingId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_display_and_serialise_as_plain_integers() {
        let id: EvaluationId = " 42 ".parse().unwrap();
        assert_eq!(id, EvaluationId(42));
        assert_eq!(id.to_string(), "42");
        assert_eq!(serde_json::to_string(&UnitId(7)).unwrap(), "7");
        assert!("x".parse::<BatchId>().is_err());
    }
}
