//! The shipped questionnaires, the content hash and the JSON the API returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi::questionnaire::{
    builtin, load_dir, parse, QuestionKind, Questionnaire, RespondentType, BUILTIN_FILES,
};
use std::collections::BTreeSet;
use std::path::Path;

fn shipped() -> Vec<Questionnaire> {
    builtin().unwrap_or_else(|e| panic!("shipped questionnaires do not load:\n{e}"))
}

#[test]
fn one_shipped_questionnaire_per_respondent_type() {
    let qs = shipped();
    let types: BTreeSet<RespondentType> = qs.iter().map(|q| q.respondent_type).collect();
    assert_eq!(types.len(), 6);
    for q in &qs {
        assert_eq!(q.id, q.respondent_type.as_str(), "id follows the type");
        assert_eq!(q.version, 1);
        assert_eq!(q.content_hash.len(), 64);
    }
}

#[test]
fn the_surveys_directory_matches_the_embedded_copy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("surveys");
    let from_disk = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut a: Vec<(String, String)> = from_disk
        .iter()
        .map(|q| (q.id.clone(), q.content_hash.clone()))
        .collect();
    let mut b: Vec<(String, String)> = shipped()
        .iter()
        .map(|q| (q.id.clone(), q.content_hash.clone()))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "every surveys/*.toml must be listed in BUILTIN_FILES");
}

#[test]
fn shipped_questionnaires_are_fit_for_purpose() {
    for q in shipped() {
        let n = q.questions.len();
        assert!((10..=17).contains(&n), "{}: {n} questions", q.id);
        let likert: Vec<_> = q.likert_questions().collect();
        assert!(
            likert.len() >= 8,
            "{}: {} likert items; straight-lining needs 8",
            q.id,
            likert.len()
        );
        assert!(likert.iter().all(|l| l.dimension.is_some()));
        // Every likert item offers "don't know": officials and residents may not know an aspect.
        assert!(likert
            .iter()
            .all(|l| l.likert().is_some_and(|x| x.dont_know.is_some())));
        let overall = q
            .question("overall")
            .unwrap_or_else(|| panic!("{}: no overall", q.id));
        assert!(overall.is_likert() && overall.required);
        let sugg = q
            .question("suggestions")
            .unwrap_or_else(|| panic!("{}: no suggestions", q.id));
        assert!(matches!(sugg.kind, QuestionKind::Text { .. }) && !sugg.required);
        // The four aspects of the evaluation rules are covered in each questionnaire.
        let dims: BTreeSet<&str> = likert
            .iter()
            .filter_map(|l| l.dimension.as_deref())
            .collect();
        for d in ["performance", "efficiency", "integrity"] {
            assert!(dims.contains(d), "{}: no {d} item", q.id);
        }
        // Every declared dimension is used by some item.
        for d in &q.dimensions {
            assert!(
                dims.contains(d.code.as_str()),
                "{}: dimension {} unused",
                q.id,
                d.code
            );
        }
        assert!(q.min_duration_seconds.is_some());
    }
}

#[test]
fn citizen_surveys_carry_the_stratum_variables() {
    for id in ["resident", "service_user"] {
        let q = shipped().into_iter().find(|q| q.id == id).unwrap();
        for code in ["district", "gender", "age_group"] {
            let question = q
                .question(code)
                .unwrap_or_else(|| panic!("{id}: no {code}"));
            assert!(
                matches!(question.kind, QuestionKind::Single { .. }),
                "{id}.{code}"
            );
            assert!(question.required);
        }
    }
}

#[test]
fn seed_concerns_appear_in_the_wording() {
    let all: String = BUILTIN_FILES.iter().map(|(_, t)| *t).collect();
    for phrase in [
        "门难进、脸难看、话难听、事难办",
        "不作为",
        "慢作为",
        "乱作为",
        "廉洁自律",
        "意见和建议",
    ] {
        assert!(all.contains(phrase), "no {phrase}");
    }
}

#[test]
fn content_hash_ignores_formatting_but_not_meaning() {
    let (name, text) = BUILTIN_FILES[2];
    let original = parse(name, text).unwrap();
    assert_eq!(original.content_hash, original.compute_hash());

    // Comments, blank lines, indentation and key order do not matter.
    let reformatted = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("  {l}   # note"))
        .map(|l| {
            if l.trim() == "# note" {
                String::new()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        .replace(
            "id = \"service_user\"   # note\n\n  version = 1",
            "version = 1   # note\n\n  id = \"service_user\"",
        );
    assert_ne!(reformatted, text);
    let same = parse(name, &reformatted).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same.content_hash, original.content_hash);
    // Writing a default explicitly does not change the meaning either.
    let explicit = text.replace(
        "code = \"q1\"\nkind = \"likert5\"",
        "code = \"q1\"\nkind = \"likert5\"\nrequired = true\nsatisfied = [3, 4, 5]",
    );
    assert_eq!(
        parse(name, &explicit).unwrap().content_hash,
        original.content_hash
    );

    // Any semantic change does.
    let changes = [
        text.to_string(), // sanity check: same text, same hash
        text.replace("您对工作人员的服务态度", "您对窗口人员的服务态度"),
        text.replace("{ code = \"2\", zh = \"女\", en = \"Female\" }", "{ code = \"F\", zh = \"女\", en = \"Female\" }"),
        text.replace("version = 1", "version = 2"),
        text.replace("min_duration_seconds = 60", "min_duration_seconds = 61"),
        text.replace("[likert]\ndont_know = true", "[likert]\ndont_know = \"dk\""),
        text.replace(
            "code = \"q1\"\nkind = \"likert5\"",
            "code = \"q1\"\nkind = \"likert5\"\nscores = { 5 = 100, 4 = 85, 3 = 70, 2 = 50, 1 = 0 }",
        ),
        text.replace("code = \"problems\"\nkind = \"multiple\"\nrequired = false", "code = \"problems\"\nkind = \"multiple\"\nrequired = true"),
    ];
    for (i, changed) in changes.iter().enumerate() {
        let h = parse(name, changed)
            .unwrap_or_else(|e| panic!("change {i}: {e}"))
            .content_hash;
        if i == 0 {
            assert_eq!(h, original.content_hash);
        } else {
            assert_ne!(changed, text, "change {i} did not apply");
            assert_ne!(h, original.content_hash, "change {i} kept the hash");
        }
    }
}

#[test]
fn questionnaires_serialize_to_json_for_the_api() {
    let q = shipped().into_iter().find(|q| q.id == "resident").unwrap();
    let v = serde_json::to_value(&q).unwrap();
    assert_eq!(v["id"], "resident");
    assert_eq!(v["respondent_type"], "resident");
    assert_eq!(v["title"]["zh"], q.title.zh);
    assert_eq!(v["dimensions"][0]["code"], "performance");
    assert_eq!(v["dimensions"][0]["zh"], "履行职责");
    let q4 = v["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == "q4")
        .unwrap();
    assert_eq!(q4["kind"], "likert5");
    assert_eq!(q4["choices"][0]["code"], 5);
    assert_eq!(q4["choices"][0]["zh"], "很满意");
    assert_eq!(q4["choices"][0]["score"], 100.0);
    assert_eq!(q4["choices"][2]["satisfied"], true);
    assert_eq!(q4["choices"][3]["satisfied"], false);
    assert_eq!(q4["dont_know"]["code"], "0");
    assert_eq!(q4["show_if"]["question"], "contact");
    assert_eq!(q4["show_if"]["in"][0], "1");
    assert_eq!(v["content_hash"], q.content_hash);
}
