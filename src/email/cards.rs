//! The printable sheet of paper invitation cards: tokens are created when the sheet is
//! generated (only their hashes stored), so the sheet is the only place they exist.

use std::collections::HashMap;

use maud::Markup;

use crate::store::Store;
use crate::views::invitations::{cards_page, CardView};

/// Issues the tokens of a draw's paper invitations (see `Store::issue_paper_cards`) and
/// renders the A4 sheet. `base_url` is the service's public address.
pub async fn sheet(
    store: &Store,
    draw_id: i64,
    reprint: bool,
    actor: &str,
    base_url: &str,
) -> anyhow::Result<Markup> {
    let cards = store.issue_paper_cards(draw_id, reprint, actor).await?;
    let base = base_url.trim_end_matches('/');
    let mut units = HashMap::new();
    let mut questionnaires = HashMap::new();
    let mut views = Vec::with_capacity(cards.len());
    for c in cards {
        if let std::collections::hash_map::Entry::Vacant(slot) = units.entry(c.unit_id) {
            slot.insert(store.get_unit(c.unit_id).await?);
        }
        let qkey = (c.questionnaire_id.clone(), c.questionnaire_version);
        if let std::collections::hash_map::Entry::Vacant(slot) = questionnaires.entry(qkey.clone())
        {
            slot.insert(
                store
                    .get_questionnaire(&c.questionnaire_id, c.questionnaire_version)
                    .await?,
            );
        }
        let (Some(unit), Some(q)) = (units.get(&c.unit_id), questionnaires.get(&qkey)) else {
            anyhow::bail!("unit or questionnaire vanished while printing cards");
        };
        let url = super::message::token_url(base, &c.token);
        views.push(CardView {
            unit_zh: unit.name_zh.clone(),
            unit_en: unit.name_en.clone(),
            questionnaire_zh: q.title_zh.clone(),
            questionnaire_en: q.title_en.clone(),
            qr_svg: crate::collect::qr_svg(&url)?,
            url,
            deadline: c.deadline,
        });
    }
    Ok(cards_page(&views))
}
