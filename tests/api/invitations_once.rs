//! One invitee, one answer, whatever links, reminders and delivery states: a message of
//! unknown fate resent, a reminder, a message given up; old and new links submitted at the
//! same moment store one response. Old links of an unanswered invitation keep working.

use pingyi::store::{Backend, Resolution};

use crate::both_backends;
use crate::helpers::{spawn_app, TestApp};
use crate::invitations::{fixture, frame, invite, link_in, opens_form, opts, sender, SmtpSink};
use crate::survey::{full_answers, post_form, questionnaire};

/// The path `/t/…` of a full link.
fn path_of(link: &str, base: &str) -> String {
    link.strip_prefix(base).unwrap_or(link).to_owned()
}

/// Opens both forms first (as two tabs would), then submits both at the same moment.
/// Returns the two statuses.
async fn submit_both(app: &TestApp, a: &str, b: &str) -> (u16, u16) {
    let form = |p: String| async move {
        app.client
            .get(app.url(&p))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (fa, fb) = (form(a.to_owned()).await, form(b.to_owned()).await);
    let answers = full_answers(&questionnaire("staff"));
    let (ra, rb) = tokio::join!(
        post_form(app, a, &fa, &answers),
        post_form(app, b, &fb, &answers)
    );
    (ra.status().as_u16(), rb.status().as_u16())
}

async fn one_invitee_one_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sink = SmtpSink::start();
    let (evaluation, version) = fixture(&app.store).await;
    let emails = ["a@example.cn", "b@example.cn", "c@example.cn"];
    let draw = invite(&app.store, evaluation, version, &frame(&emails, 0)).await;
    let base = app.address.clone();
    let before = app.store.count_responses(evaluation).await.unwrap();

    // a's first message breaks off mid-session: delivery unknown, its link live
    let due = pingyi::store::queue_time(chrono::Utc::now());
    let first = app.store.claim_message(&due).await.unwrap().unwrap();
    app.store
        .mark_unknown(first.outbox_id, &first.claim, "connection reset")
        .await
        .unwrap();
    let person_a = first.email.clone();
    let others: Vec<&str> = emails.iter().copied().filter(|e| *e != person_a).collect();
    let (person_b, person_c) = (others[0].to_owned(), others[1].to_owned());
    let s = sender(&app, sink.port, opts());
    assert_eq!(s.run_once().await.unwrap().sent, 2);
    let c = app.store.invitation_counts(draw).await.unwrap();
    assert_eq!(c.unknown, 1, "in doubt, not failed: {c:?}");
    assert_eq!(c.failed, 0);
    assert_eq!(c.not_answered, 3, "over all invitations");
    // the operator resends: the old and the new link both open the form
    app.store
        .resolve_unknown(first.outbox_id, Resolution::Resend, "test")
        .await
        .unwrap();
    assert_eq!(s.run_once().await.unwrap().sent, 1);
    let got = sink.messages();
    let old_a = format!("/t/{}", first.token);
    let new_a = path_of(&link_in(&got.last().unwrap().body, &base), &base);
    assert_ne!(old_a, new_a);
    assert!(opens_form(&app, &app.url(&old_a)).await);
    assert!(opens_form(&app, &app.url(&new_a)).await);
    let (x, y) = submit_both(&app, &old_a, &new_a).await;
    let mut st = [x, y];
    st.sort_unstable();
    assert_eq!(st[0], 303, "one of them is stored: {st:?}");
    assert_ne!(st[1], 303, "never both: {st:?}");
    assert!(!opens_form(&app, &app.url(&old_a)).await);
    assert!(!opens_form(&app, &app.url(&new_a)).await);

    // b gets a reminder: the first link still works beside the new one; one answer
    let b_first = got.iter().find(|m| m.rcpt_tos[0] == person_b).unwrap();
    let old_b = path_of(&link_in(&b_first.body, &base), &base);
    app.store.request_reminders(draw, "test").await.unwrap();
    let r = s.run_once().await.unwrap();
    assert_eq!(r.reminders_queued, 2, "b and c, not a who answered: {r}");
    assert_eq!(r.sent, 2);
    let got = sink.messages();
    let reminder_b = got
        .iter()
        .rev()
        .find(|m| m.rcpt_tos[0] == person_b)
        .unwrap();
    assert!(reminder_b.subject.starts_with("提醒"));
    let new_b = path_of(&link_in(&reminder_b.body, &base), &base);
    assert!(opens_form(&app, &app.url(&old_b)).await);
    let (x, y) = submit_both(&app, &old_b, &new_b).await;
    let mut st = [x, y];
    st.sort_unstable();
    assert_eq!((st[0], st[1] != 303), (303, true), "{st:?}");

    // c: a later message given up as failed; c's delivered links still work, once
    app.store.request_reminders(draw, "test").await.unwrap();
    assert_eq!(app.store.expand_reminder_rounds().await.unwrap(), 1);
    let due = pingyi::store::queue_time(chrono::Utc::now() + chrono::Duration::seconds(1));
    let claimed = app.store.claim_message(&due).await.unwrap().unwrap();
    assert_eq!(claimed.email, person_c);
    app.store
        .mark_unknown(claimed.outbox_id, &claimed.claim, "timeout")
        .await
        .unwrap();
    app.store
        .resolve_unknown(claimed.outbox_id, Resolution::Failed, "test")
        .await
        .unwrap();
    assert!(
        !opens_form(&app, &app.url(&format!("/t/{}", claimed.token))).await,
        "a message given up carried no live link"
    );
    let c_links: Vec<String> = sink
        .messages()
        .iter()
        .filter(|m| m.rcpt_tos[0] == person_c)
        .map(|m| path_of(&link_in(&m.body, &base), &base))
        .collect();
    assert_eq!(c_links.len(), 2, "invitation and first reminder");
    let (x, y) = submit_both(&app, &c_links[0], &c_links[1]).await;
    let mut st = [x, y];
    st.sort_unstable();
    assert_eq!((st[0], st[1] != 303), (303, true), "{st:?}");

    // three invitees, three answers; every link of each now closed
    assert_eq!(
        app.store.count_responses(evaluation).await.unwrap(),
        before + 3
    );
    let c = app.store.invitation_counts(draw).await.unwrap();
    assert_eq!((c.answered, c.not_answered), (3, 0), "{c:?}");
    // every message carried MIME-Version and a Message-ID
    for m in sink.messages() {
        assert!(m.raw.contains("MIME-Version: 1.0"), "{}", m.raw);
        assert!(m.raw.contains("Message-ID: <"), "{}", m.raw);
    }
}
both_backends!(invitations_one_answer, one_invitee_one_answer);
