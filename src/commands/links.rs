//! `pingyi links` (public links CSV for posters) and `pingyi tokens` (invitation tokens).

use std::io::Write;

use crate::config::DatabaseArgs;
use crate::questionnaire::{Questionnaire, RespondentType};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct LinksArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Only this evaluation.
    #[arg(long)]
    pub evaluation: Option<i64>,
    /// First create the missing links of the evaluation's plan: one per plan row of service
    /// users and residents (without a plan: per unit and citizens' questionnaire).
    #[arg(long, requires = "evaluation")]
    pub create: bool,
    /// Base URL of the service as respondents reach it.
    #[arg(
        long,
        env = "PINGYI_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

#[derive(Debug, clap::Args)]
pub struct TokensArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub evaluation: i64,
    /// Unit code.
    #[arg(long)]
    pub unit: String,
    /// Questionnaire: id (its newest version) or id@version, as `pingyi links` prints it.
    #[arg(long)]
    pub questionnaire: String,
    /// How many single-use tokens to create.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Last day the tokens work (YYYY-MM-DD); default: 31 December of the evaluation's year.
    #[arg(long)]
    pub expires: Option<chrono::NaiveDate>,
    #[arg(
        long,
        env = "PINGYI_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Public questionnaires: those answered through open links by citizens.
pub fn is_public(rt: RespondentType) -> bool {
    matches!(rt, RespondentType::ServiceUser | RespondentType::Resident)
}

/// Creates any missing public links for an evaluation. Returns how many were created.
pub async fn create_public_links(
    store: &Store,
    evaluation_id: i64,
    qs: &[Questionnaire],
) -> anyhow::Result<usize> {
    let existing = store.list_links(Some(evaluation_id)).await?.len();
    for unit in store.evaluation_units(evaluation_id).await? {
        for q in qs.iter().filter(|q| is_public(q.respondent_type)) {
            store
                .create_link(
                    &crate::collect::new_link_code(),
                    evaluation_id,
                    unit.id,
                    &q.id,
                    i64::from(q.version),
                )
                .await?;
        }
    }
    Ok(store.list_links(Some(evaluation_id)).await?.len() - existing)
}

pub async fn run_links(args: LinksArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.db.url(), &args.db.store_options()).await?;
    if args.create {
        let evaluation = args
            .evaluation
            .ok_or_else(|| anyhow::anyhow!("--create needs --evaluation"))?;
        let id = crate::store::EvaluationId(evaluation);
        store.get_evaluation(evaluation).await?;
        let n = if store.plan_rows(id).await?.is_empty() {
            let qs = crate::questionnaire::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
            create_public_links(&store, evaluation, &qs).await?
        } else {
            crate::evaluations::links::create_plan_links(&store, id, "cli")
                .await?
                .created
        };
        eprintln!("created {n} links");
    }
    let units: std::collections::BTreeMap<i64, String> = store
        .list_units()
        .await?
        .into_iter()
        .map(|u| (u.id, u.code))
        .collect();
    let types: std::collections::BTreeMap<(String, i64), RespondentType> = store
        .list_questionnaires()
        .await?
        .into_iter()
        .map(|q| ((q.id, q.version), q.respondent_type))
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "evaluation,unit,respondent_type,questionnaire,url")?;
    let base = args.public_url.trim_end_matches('/');
    for l in store.list_links(args.evaluation).await? {
        let unit = units.get(&l.unit_id).map(String::as_str).unwrap_or("");
        let rt = types
            .get(&(l.questionnaire_id.clone(), l.questionnaire_version))
            .map_or("", |t| t.as_str());
        writeln!(
            out,
            "{},{},{},{},{}",
            l.evaluation_id,
            csv_field(unit),
            rt,
            csv_field(&format!(
                "{}@{}",
                l.questionnaire_id, l.questionnaire_version
            )),
            csv_field(&format!("{base}/s/{}", l.code)),
        )?;
    }
    Ok(())
}

/// Creates tokens and prints their URLs once: only their hashes are stored.
pub async fn run_tokens(args: TokensArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.db.url(), &args.db.store_options()).await?;
    let evaluation = store.get_evaluation(args.evaluation).await?;
    let unit = store.get_unit_by_code(&args.unit).await?;
    let (qid, version) =
        crate::commands::invite::resolve_questionnaire(&store, &args.questionnaire).await?;
    let expires = match args.expires {
        Some(d) => d,
        None => chrono::NaiveDate::from_ymd_opt(evaluation.year as i32, 12, 31)
            .ok_or_else(|| anyhow::anyhow!("bad evaluation year {}", evaluation.year))?,
    };
    let tokens: Vec<String> = (0..args.count)
        .map(|_| crate::collect::new_token())
        .collect();
    let hashes: Vec<String> = tokens
        .iter()
        .map(|t| crate::collect::sha256_hex(t))
        .collect();
    store
        .create_tokens(&hashes, evaluation.id, unit.id, &qid, version, expires)
        .await?;
    store
        .audit(
            "cli",
            "tokens.create",
            &format!("evaluation:{}", evaluation.id),
            &serde_json::json!({ "unit": unit.code, "questionnaire": format!("{qid}@{version}"), "count": args.count }),
        )
        .await?;
    let base = args.public_url.trim_end_matches('/');
    let mut out = std::io::stdout().lock();
    for t in tokens {
        writeln!(out, "{base}/t/{t}")?;
    }
    Ok(())
}
