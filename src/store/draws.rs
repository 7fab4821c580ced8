//! Recorded sample draws: the draw's frame rows, strata and selection, stored so that anyone
//! can check it against the published seed and frame.

use super::invitations::*;
use super::queries::now_rfc3339;
use super::*;

#[derive(sqlx::FromRow)]
struct DrawHead {
    id: i64,
    evaluation_id: i64,
    unit_id: Option<i64>,
    respondent_type: Option<String>,
    title: String,
    upload_sha256: String,
    upload_format: String,
    frame_sha256: String,
    options: String,
    seed: String,
    result_sha256: String,
    population: i64,
    n_drawn: i64,
    equal_probability: i64,
    drawn_on: String,
}

const DRAW_COLUMNS: &str = "id, evaluation_id, unit_id, respondent_type, title, upload_sha256, \
    upload_format, frame_sha256, options, seed, result_sha256, population, n_drawn, \
    equal_probability, drawn_on";

impl Store {
    /// Records a draw, its strata and drawn rows, and an audit entry, in one transaction.
    pub async fn record_draw(&self, d: &NewDraw) -> StoreResult<i64> {
        let now = now_rfc3339();
        let id: i64 = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO draws (evaluation_id, unit_id, respondent_type, title, upload_sha256, \
                 upload_format, frame_sha256, options, seed, result_sha256, population, n_drawn, \
                 equal_probability, drawn_on, actor) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
            )
            .bind(d.evaluation_id)
            .bind(d.unit_id)
            .bind(&d.respondent_type)
            .bind(&d.title)
            .bind(&d.upload_sha256)
            .bind(&d.upload_format)
            .bind(&d.frame_sha256)
            .bind(&d.options)
            .bind(&d.seed)
            .bind(&d.result_sha256)
            .bind(d.population)
            .bind(d.n_drawn)
            .bind(i64::from(d.equal_probability))
            .bind(today())
            .bind(&d.actor)
            .fetch_one(&mut *tx)
            .await?;
            for s in &d.strata {
                sqlx::query(
                    "INSERT INTO draw_strata (draw_id, stratum, population, sample, certainty) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&s.stratum)
                .bind(s.population)
                .bind(s.sample)
                .bind(s.certainty)
                .execute(&mut *tx)
                .await?;
            }
            for r in &d.rows {
                sqlx::query(
                    "INSERT INTO draw_rows (draw_id, ord, person_id, stratum, inclusion_probability, \
                     design_weight, email, unit_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(r.ord)
                .bind(&r.person_id)
                .bind(&r.stratum)
                .bind(r.inclusion_probability)
                .bind(r.design_weight)
                .bind(&r.email)
                .bind(&r.unit_code)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(&now)
                .bind(&d.actor)
                .bind("draw.record")
                .bind(format!("draw:{id}"))
                .bind(serde_json::json!({
                    "evaluation": d.evaluation_id,
                    "unit": d.unit_id,
                    "respondent_type": d.respondent_type,
                    "upload_sha256": d.upload_sha256,
                    "frame_sha256": d.frame_sha256,
                    "options": d.options,
                    "seed": d.seed,
                    "result_sha256": d.result_sha256,
                    "population": d.population,
                    "n_drawn": d.n_drawn,
                }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    pub async fn get_draw(&self, id: i64) -> StoreResult<DrawRecord> {
        let sql = format!("SELECT {DRAW_COLUMNS} FROM draws WHERE id = $1");
        let head: Option<DrawHead> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        let head = head.ok_or_else(|| StoreError::NotFound(format!("draw {id}")))?;
        self.with_strata(head).await
    }

    /// Draws of one evaluation, newest first.
    pub async fn list_draws(&self, evaluation_id: i64) -> StoreResult<Vec<DrawRecord>> {
        let sql =
            format!("SELECT {DRAW_COLUMNS} FROM draws WHERE evaluation_id = $1 ORDER BY id DESC");
        let heads: Vec<DrawHead> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?);
        let mut out = Vec::with_capacity(heads.len());
        for h in heads {
            out.push(self.with_strata(h).await?);
        }
        Ok(out)
    }

    async fn with_strata(&self, h: DrawHead) -> StoreResult<DrawRecord> {
        let strata: Vec<DrawStratum> = with_pool!(self, p => sqlx::query_as(
            "SELECT stratum, population, sample, certainty FROM draw_strata WHERE draw_id = $1 ORDER BY stratum"
        ).bind(h.id).fetch_all(p).await?);
        Ok(DrawRecord {
            id: h.id,
            evaluation_id: h.evaluation_id,
            unit_id: h.unit_id,
            respondent_type: h.respondent_type,
            title: h.title,
            upload_sha256: h.upload_sha256,
            upload_format: h.upload_format,
            frame_sha256: h.frame_sha256,
            options: h.options,
            seed: h.seed,
            result_sha256: h.result_sha256,
            population: h.population,
            n_drawn: h.n_drawn,
            equal_probability: h.equal_probability != 0,
            drawn_on: h.drawn_on,
            strata,
        })
    }

    /// The drawn rows (personal data; evaluators only), in frame order.
    pub async fn draw_rows(&self, draw_id: i64) -> StoreResult<Vec<DrawnRow>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT ord, person_id, stratum, inclusion_probability, design_weight, email, unit_code \
             FROM draw_rows WHERE draw_id = $1 ORDER BY ord"
        ).bind(draw_id).fetch_all(p).await?);
        Ok(rows)
    }

    /// Population size `N_h` and sampling fraction `n_h / N_h` per stratum of every draw of an
    /// evaluation, with the unit and respondent type each applies to.
    ///
    /// How analysis uses it: responses are anonymous and carry no person, so weights can only
    /// be attached per cell. For a response of (unit, respondent type) find the stratum rows
    /// with that `unit_id` and `respondent_type` (`None` = any); with `equal_probability`,
    /// the design weight is `N_h / n_h` (or, adjusting for non-response, `N_h / r_h` with
    /// `r_h` the responses in the cell), the stratum is the cell and the fpc is `N_h`
    /// (population size, as `svydesign(fpc = )` takes it; fraction `n_h / N_h`). Several
    /// draws for the same cell: use the newest (`draw_id` largest). PPS draws
    /// (`equal_probability == false`) have no cell-level weight; analyse them unweighted
    /// within the cell and say so.
    pub async fn design_strata(&self, evaluation_id: i64) -> StoreResult<Vec<DesignStratum>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            draw_id: i64,
            unit_id: Option<i64>,
            respondent_type: Option<String>,
            equal_probability: i64,
            stratum: String,
            population: i64,
            sample: i64,
        }
        let rows: Vec<Row> = with_pool!(self, p => sqlx::query_as(
            "SELECT d.id AS draw_id, d.unit_id, d.respondent_type, d.equal_probability, s.stratum, \
             s.population, s.sample FROM draws d JOIN draw_strata s ON s.draw_id = d.id \
             WHERE d.evaluation_id = $1 ORDER BY d.id, s.stratum"
        ).bind(evaluation_id).fetch_all(p).await?);
        let units: std::collections::HashMap<String, i64> = self
            .evaluation_units(evaluation_id)
            .await?
            .into_iter()
            .map(|u| (u.code, u.id))
            .collect();
        Ok(rows
            .into_iter()
            .map(|r| DesignStratum {
                draw_id: r.draw_id,
                evaluation_id,
                unit_id: r.unit_id.or_else(|| units.get(&r.stratum).copied()),
                respondent_type: r.respondent_type,
                fraction: if r.population > 0 {
                    r.sample as f64 / r.population as f64
                } else {
                    0.0
                },
                stratum: r.stratum,
                population: r.population,
                sample: r.sample,
                equal_probability: r.equal_probability != 0,
            })
            .collect())
    }
}
