//! Property tests of free-text scrubbing: whatever surrounds them, phone numbers, ID numbers and
//! e-mail addresses never survive, and text without them is returned unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi::questionnaire::{scrub, HIDDEN};
use proptest::prelude::*;

/// Filler that cannot itself form or extend a number or an address: Chinese text, punctuation
/// and spaces, never digits, letters or '@'.
fn filler() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("窗口"),
            Just("态度很好"),
            Just("，"),
            Just("。"),
            Just(" "),
            Just("：电话"),
            Just("办事效率高"),
            Just("（"),
            Just("）"),
            Just("\n"),
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// A mainland mobile number in one of the ways people write it.
fn mobile() -> impl Strategy<Value = String> {
    (3u8..=9, 0u32..1_000_000_000, 0usize..6, any::<bool>()).prop_map(
        |(second, rest, style, wide)| {
            let digits = format!("1{second}{rest:09}");
            let (a, b, c) = (&digits[..3], &digits[3..7], &digits[7..]);
            let s = match style {
                0 => digits.clone(),
                1 => format!("{a} {b} {c}"),
                2 => format!("{a}-{b}-{c}"),
                3 => format!("+86 {digits}"),
                4 => format!("+86-{a}-{b}-{c}"),
                _ => format!("86{digits}"),
            };
            if wide {
                full_width(&s)
            } else {
                s
            }
        },
    )
}

fn id_number() -> impl Strategy<Value = String> {
    (
        0u64..100_000_000_000_000_000,
        0u8..11,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(body, check, spaced, wide)| {
            let body = format!("{body:017}");
            let last = match check {
                10 => "X".to_string(),
                d => d.to_string(),
            };
            let s = if spaced {
                format!("{} {} {}{last}", &body[..6], &body[6..14], &body[14..])
            } else {
                format!("{body}{last}")
            };
            if wide {
                full_width(&s)
            } else {
                s
            }
        })
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9._-]{0,10}",
        "[a-z0-9]{1,8}",
        prop_oneof![Just("com"), Just("cn"), Just("com.cn"), Just("org")],
    )
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"))
}

proptest! {
    #[test]
    fn personal_data_is_replaced_wherever_it_appears(
        before in filler(),
        secret in prop_oneof![mobile(), id_number(), email()],
        after in filler(),
    ) {
        let text = format!("{before}{secret}{after}");
        prop_assert_eq!(scrub(&text), format!("{before}{HIDDEN}{after}"));
    }

    #[test]
    fn several_secrets_in_one_answer(
        parts in proptest::collection::vec((filler(), prop_oneof![mobile(), id_number(), email()]), 1..4),
        tail in filler(),
    ) {
        // Separate neighbours so two numbers do not merge into one longer run.
        let text: String = parts.iter().map(|(f, s)| format!("{f}。{s}")).collect::<String>() + &tail;
        let want: String = parts.iter().map(|(f, _)| format!("{f}。{HIDDEN}")).collect::<String>() + &tail;
        prop_assert_eq!(scrub(&text), want);
    }

    #[test]
    fn text_without_digits_or_at_is_unchanged(text in "[^0-9０-９@＠]{0,80}") {
        prop_assert_eq!(scrub(&text), text);
    }

    #[test]
    fn scrubbing_is_idempotent(text in "[0-9a-z@. 电话，+\\-]{0,60}") {
        let once = scrub(&text);
        prop_assert_eq!(scrub(&once), once.clone());
    }

    #[test]
    fn longer_digit_runs_are_not_phone_numbers(extra in "[0-9]{1,5}", second in 3u8..=9, rest in 0u32..1_000_000_000) {
        // An 11-digit mobile pattern glued to more digits is an order or card number.
        let run = format!("{extra}1{second}{rest:09}");
        // Only a +86 / 0086 country prefix makes it a phone number after all.
        if extra != "86" && extra != "0086" {
            prop_assert_eq!(scrub(&run), run);
        }
    }
}
