//! The sampling design of an evaluation's responses: weights, strata and finite-population
//! corrections from the recorded draws.
//!
//! # Where the design comes from
//!
//! A token response that was sent for an invitation of a recorded draw carries, from its
//! submission on, the draw's id and the stratum of the drawn row the invitation was for
//! (`responses.design_draw_id`, `responses.design_stratum`; migration 0008, written by
//! `Store::write_submissions` from tokens → invitations → draw rows). Nothing else of the
//! invitation is kept: not the invitation, the drawn row, the person or the token, so the
//! link tells analysis which stratum an answer belongs to and nothing about who gave it.
//! Strata of fewer than [`MIN_DESIGN_STRATUM`] invitees are not named on the response (the
//! draw is); they are analysed together as one collapsed stratum of the draw, so a stratum
//! name never narrows a response down to one or two invitees.
//!
//! The weights and population sizes come from the draw's public record (`draw_strata`, the
//! same numbers as `GET /api/v1/evaluations/{id}/design`), not from the response.
//!
//! # How the sources combine in one analysis
//!
//! The design is R's `svydesign(ids = ~1, strata = ~stratum, fpc = ~fpc, weights = ~weight)`
//! over every active response of the evaluation, with these rows:
//!
//! | response | stratum | weight | fpc |
//! | --- | --- | --- | --- |
//! | token of draw `d`, equal-probability stratum `h` with ≥ 5 invitees | `draw d / h` | `N_h / n_h` (the draw's design weight, 1/π) | `N_h` |
//! | token of draw `d`, strata with < 5 invitees (collapsed) | `draw d / collapsed` | `Σ N_h / Σ n_h` over those strata | `Σ N_h` |
//! | token of a PPS stratum (unequal probabilities) | as above | `N_h / n_h` | none |
//! | public link, token outside a draw, firm upload | `other` | uploaded `weight`, else 1 | none |
//!
//! * Each draw stratum stays its own stratum: draws are independent samples, and
//!   stratification is part of each draw's design. Domains (unit, respondent type, …) are
//!   estimated within the full design (R's `svyby`), so a domain that cuts across strata gets
//!   the right between-strata structure, and the standard errors shrink with the
//!   finite-population correction `1 − r_h / N_h` (`r_h`: responses in the stratum, the PSUs
//!   R counts) exactly as `svydesign(fpc = )` does.
//! * The weight is the design weight `1/π = N_h / n_h` of the drawn people, as the draw
//!   recorded it; no non-response adjustment is made (within a stratum a ratio mean does not
//!   depend on the weight's scale; across strata, strata with low response count for what
//!   their respondents represent). A firm row's uploaded weight multiplies (`w = w_design ·
//!   w_upload`; firm rows never come through a draw, so in practice one of the two is 1).
//! * Responses that no draw produced have no known selection probability. They are analysed
//!   as before any draw existed: one with-replacement stratum with their weights (1 for
//!   public-link answers, the uploaded weight for firm rows), so adding a draw does not change
//!   how the other responses count. Their weight 1 means "this respondent stands for
//!   themselves", while a drawn respondent stands for `N_h / n_h` people: in a domain that
//!   mixes both, the probability sample carries the population it represents. Firms that
//!   want their rows to count alongside a draw should upload expansion weights (population
//!   counts), not weights normalised to mean 1.
//! * PPS strata have a weight per person, which would identify the respondent; they get the
//!   stratum's mean weight `N_h / n_h` and no fpc (with-replacement variance, conservative).
//! * A stratum with a single response gets R's `survey.lonely.psu = "adjust"` (centred at
//!   the grand mean, conservative) instead of an error.
//! * Without any draw response the design is the weighted simple random sample the service
//!   always used (one stratum, no fpc, `svydesign(ids = ~1, weights = ~weight)`), which is
//!   also what `pingyi analyze --weight weight` computes on the exported responses.

use std::collections::HashMap;

use crate::store::DesignStratum;

/// Draw strata with fewer invitees than this are not named on a response; their responses
/// form one collapsed stratum per draw.
pub const MIN_DESIGN_STRATUM: i64 = 5;

/// Stratum label of responses no draw produced.
pub const OTHER: &str = "other";

/// Design of the responses of one draw stratum (or of a draw's collapsed small strata).
#[derive(Debug, Clone, PartialEq)]
pub struct DesignCell {
    /// stratum label in the frame (`draw <id> / <stratum>`)
    pub stratum: String,
    /// design weight 1/π
    pub weight: f64,
    /// population size N_h for the fpc; None for PPS strata
    pub fpc: Option<f64>,
}

/// Draw strata of an evaluation by (draw, stratum); `None` = the draw's collapsed strata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesignTable {
    cells: HashMap<(i64, Option<String>), DesignCell>,
}

impl DesignTable {
    /// The table for an evaluation's draw strata (see [`crate::store::Store::design_strata`]).
    pub fn new(strata: &[DesignStratum]) -> Self {
        let mut cells = HashMap::new();
        // collapsed small strata per draw: (Σ N, Σ n, all equal-probability)
        let mut small: HashMap<i64, (i64, i64, bool)> = HashMap::new();
        for s in strata.iter().filter(|s| s.sample > 0 && s.population > 0) {
            if s.sample >= MIN_DESIGN_STRATUM {
                cells.insert(
                    (s.draw_id, Some(s.stratum.clone())),
                    DesignCell {
                        stratum: format!("draw {} / {}", s.draw_id, s.stratum),
                        weight: s.population as f64 / s.sample as f64,
                        fpc: s.equal_probability.then_some(s.population as f64),
                    },
                );
            } else {
                let e = small.entry(s.draw_id).or_insert((0, 0, true));
                e.0 += s.population;
                e.1 += s.sample;
                e.2 &= s.equal_probability;
            }
        }
        for (draw, (pop, n, equal)) in small {
            cells.insert(
                (draw, None),
                DesignCell {
                    stratum: format!("draw {draw} / collapsed"),
                    weight: pop as f64 / n as f64,
                    fpc: equal.then_some(pop as f64),
                },
            );
        }
        DesignTable { cells }
    }

    /// The design of a response that came through `draw` (stratum as recorded on it).
    pub fn cell(&self, draw: i64, stratum: Option<&str>) -> Option<&DesignCell> {
        self.cells.get(&(draw, stratum.map(str::to_owned)))
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells in a stable order, as text: equal for equal tables.
    pub fn fingerprint(&self) -> String {
        let mut cells: Vec<String> = self
            .cells
            .iter()
            .map(|(k, c)| format!("{k:?}={c:?}"))
            .collect();
        cells.sort();
        cells.join(";")
    }

    /// Population size (fpc) by stratum label; None for PPS strata.
    pub fn populations(&self) -> HashMap<&str, Option<f64>> {
        self.cells
            .values()
            .map(|c| (c.stratum.as_str(), c.fpc))
            .collect()
    }

    /// The design of one response as analysis uses it (see the table in the module docs):
    /// `draw`/`stratum` as recorded on the response, `uploaded` its uploaded weight.
    pub fn row(
        &self,
        draw: Option<i64>,
        stratum: Option<&str>,
        uploaded: Option<f64>,
    ) -> RowDesign<'_> {
        let uploaded = uploaded.unwrap_or(1.0);
        match draw.map(|d| self.cell(d, stratum)) {
            Some(Some(c)) => RowDesign {
                stratum: &c.stratum,
                weight: c.weight * uploaded,
                fpc: c.fpc.unwrap_or(f64::INFINITY),
                unknown_draw: false,
            },
            other => RowDesign {
                stratum: OTHER,
                weight: uploaded,
                fpc: f64::INFINITY,
                unknown_draw: other.is_some(),
            },
        }
    }
}

/// The design of one response: what the frame and the exports carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowDesign<'a> {
    /// stratum label ([`OTHER`] for responses no draw produced)
    pub stratum: &'a str,
    /// design weight × uploaded weight
    pub weight: f64,
    /// population size of the stratum; infinite = no finite-population correction
    pub fpc: f64,
    /// the response names a draw stratum that is not recorded (analysed as [`OTHER`])
    pub unknown_draw: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(draw: i64, stratum: &str, population: i64, sample: i64, eq: bool) -> DesignStratum {
        DesignStratum {
            draw_id: draw,
            evaluation_id: 1,
            unit_id: None,
            respondent_type: None,
            stratum: stratum.into(),
            population,
            sample,
            fraction: sample as f64 / population as f64,
            equal_probability: eq,
        }
    }

    #[test]
    fn weights_fpc_and_collapsed_strata() {
        let t = DesignTable::new(&[
            s(1, "a", 100, 20, true),
            s(1, "b", 6, 2, true),
            s(1, "c", 3, 3, true),
            s(2, "a", 50, 10, false),
        ]);
        let a = t.cell(1, Some("a")).unwrap();
        assert_eq!((a.weight, a.fpc), (5.0, Some(100.0)));
        assert_eq!(a.stratum, "draw 1 / a");
        // b and c drew fewer than 5: one collapsed stratum, 9 people for 5 drawn
        assert!(t.cell(1, Some("b")).is_none());
        let c = t.cell(1, None).unwrap();
        assert_eq!((c.weight, c.fpc), (9.0 / 5.0, Some(9.0)));
        // PPS: mean weight, no fpc
        let p = t.cell(2, Some("a")).unwrap();
        assert_eq!((p.weight, p.fpc), (5.0, None));
    }
}
