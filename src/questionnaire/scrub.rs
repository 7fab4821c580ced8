//! Free-text scrubbing: respondents sometimes type their phone number, ID number or e-mail into
//! a suggestion box; none of that may be stored with an anonymous response.
//!
//! A hand-written scanner rather than a regex because the rules need digit-run boundaries
//! (a phone number inside a longer number is not a phone number), optional separators between
//! digits, and full-width digits as typed by Chinese input methods.

/// What replaces every scrubbed span.
pub const HIDDEN: &str = "[已隐藏]";

fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => None,
    }
}

fn is_digit(c: Option<&char>) -> bool {
    c.is_some_and(|c| digit(*c).is_some())
}

/// Characters people put between digit groups: `138 1234 5678`, `138-1234-5678`.
fn is_sep(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{3000}' | '\u{a0}' | '－' | '‐' | '–')
}

/// Read `n` digits from `i`. One separator is allowed only after the digit counts in `groups`
/// (the customary groupings 138 1234 5678 and 110105 19491231 002X); anywhere else it would turn
/// unrelated numbers into matches.
fn read_digits(s: &[char], mut i: usize, n: usize, groups: &[usize]) -> Option<(Vec<u32>, usize)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if let Some(d) = s.get(i).and_then(|c| digit(*c)) {
            out.push(d);
            i += 1;
        } else if groups.contains(&out.len())
            && s.get(i).is_some_and(|c| is_sep(*c))
            && is_digit(s.get(i + 1))
        {
            i += 1;
        } else {
            return None;
        }
    }
    Some((out, i))
}

/// 18-digit resident ID number at `i`: 17 digits then a digit or X, not followed by a digit.
fn id_number_at(s: &[char], i: usize) -> Option<usize> {
    let (_, k) = read_digits(s, i, 17, &[6, 14])?;
    let last = *s.get(k)?;
    if digit(last).is_none() && !is_x(last) {
        return None;
    }
    let end = k + 1;
    if is_digit(s.get(end)) {
        return None;
    }
    // "…X" followed by more letters is a word, not an ID number.
    if is_x(last) && s.get(end).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(end)
}

fn is_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

/// Mainland mobile number at `i`: optional +86 / 0086 / 86 prefix, then 1[3-9] and nine digits.
fn mobile_at(s: &[char], i: usize) -> Option<usize> {
    let plain = |start: usize| -> Option<usize> {
        let (d, end) = read_digits(s, start, 11, &[3, 7])?;
        let ok = d[0] == 1 && (3..=9).contains(&d[1]) && !is_digit(s.get(end));
        ok.then_some(end)
    };
    // Prefix forms; the prefix may be followed by one separator.
    let mut j = i;
    let plus = matches!(s.get(j), Some('+') | Some('＋'));
    if plus {
        j += 1;
    }
    let prefix_len = [(&['0', '0', '8', '6'][..]), &['8', '6'][..]]
        .iter()
        .find(|p| {
            p.iter()
                .enumerate()
                .all(|(k, want)| s.get(j + k).and_then(|c| digit(*c)) == want.to_digit(10))
        })
        .map(|p| p.len());
    if let Some(len) = prefix_len {
        let mut k = j + len;
        if s.get(k).is_some_and(|c| is_sep(*c)) {
            k += 1;
        }
        if let Some(end) = plain(k) {
            return Some(end);
        }
    }
    if plus {
        return None;
    }
    plain(i)
}

fn email_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn email_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// E-mail address around the `@` at `at`: returns its span.
fn email_around(s: &[char], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && email_local(s[start - 1]) {
        start -= 1;
    }
    // A sentence may end with '.' right before the next word; a local part never starts with one.
    while start < at && s[start] == '.' {
        start += 1;
    }
    if start == at {
        return None;
    }
    let mut end = at + 1;
    while end < s.len() && email_domain(s[end]) {
        end += 1;
    }
    // Trailing dots/hyphens are sentence punctuation, not part of the domain.
    while end > at + 1 && matches!(s[end - 1], '.' | '-') {
        end -= 1;
    }
    let domain: String = s[at + 1..end].iter().collect();
    let labels: Vec<&str> = domain.split('.').collect();
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) || !tld_ok {
        return None;
    }
    Some((start, end))
}

/// Replace mainland mobile numbers (with spaces/dashes, +86/0086/86 prefix, full-width digits),
/// 18-digit resident ID numbers and e-mail addresses with `[已隐藏]`. A number that is part of a
/// longer digit run (an order number, a bank card) is left alone.
pub fn scrub(text: &str) -> String {
    let s: Vec<char> = text.chars().collect();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, c) in s.iter().enumerate() {
        if matches!(c, '@' | '＠') {
            if let Some(span) = email_around(&s, i) {
                if spans.last().is_none_or(|last| span.0 >= last.1) {
                    spans.push(span);
                }
            }
        }
    }
    let in_email = |i: usize| spans.iter().any(|(a, b)| (*a..*b).contains(&i));
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let starts_number = is_digit(s.get(i)) || matches!(s[i], '+' | '＋');
        // Inside a longer digit run, or after a foreign "+country code": not ours.
        let after_digit_or_plus =
            i > 0 && (is_digit(s.get(i - 1)) || matches!(s[i - 1], '+' | '＋'));
        if !starts_number || in_email(i) || after_digit_or_plus {
            i += 1;
            continue;
        }
        if let Some(end) = id_number_at(&s, i).or_else(|| mobile_at(&s, i)) {
            numbers.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    spans.extend(numbers);
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (a, b) in spans {
        if a < pos {
            // Overlapping spans (a number running into an address): hide their union.
            pos = pos.max(b);
            continue;
        }
        out.extend(&s[pos..a]);
        out.push_str(HIDDEN);
        pos = b;
    }
    out.extend(&s[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> String {
        s.replace("##", HIDDEN)
    }

    #[test]
    fn mobile_numbers_in_every_common_form() {
        let cases = [
            ("电话13812345678谢谢", "电话##谢谢"),
            ("13812345678", "##"),
            ("call 138 1234 5678.", "call ##."),
            ("138-1234-5678", "##"),
            ("+86 13912345678", "##"),
            ("+86-139-1234-5678", "##"),
            ("+8613912345678", "##"),
            ("008613912345678", "##"),
            ("8613912345678", "##"),
            ("手机：１８６１２３４５６７８。", "手机：##。"),
            ("19912345678和15012345678", "##和##"),
            ("tel:17712345678", "tel:##"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), h(want), "input {input:?}");
        }
    }

    #[test]
    fn not_mobile_numbers() {
        for input in [
            "12812345678",             // second digit 2 is not a mobile prefix
            "1381234567",              // ten digits
            "订单号 2013812345678901", // inside a longer run
            "138123456789",            // twelve digits
            "卡号6222021381234567890", // bank card containing a phone-like run
            "2023年办了3件事，等了15天",
            "+1 415 555 0100",
            "1 381 234 5678", // not the 3-4-4 grouping of mobile numbers
            "第1 2 3 4 5 6 7 8 9 0 1号",
        ] {
            assert_eq!(scrub(input), input, "input {input:?}");
        }
    }

    #[test]
    fn id_numbers() {
        let cases = [
            ("身份证11010519491231002X", "身份证##"),
            ("身份证11010519491231002x。", "身份证##。"),
            ("ID 110105194912310021 ok", "ID ## ok"),
            ("110105 19491231 002X", "##"),
            ("110105-19491231-0021", "##"),
            ("１１０１０５１９４９１２３１００２Ｘ", "##"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), h(want), "input {input:?}");
        }
        // 19 and 20 digit runs are not ID numbers.
        for input in ["1101051949123100211", "11010519491231002112"] {
            assert_eq!(scrub(input), input);
        }
    }

    #[test]
    fn emails() {
        let cases = [
            ("请联系 zhang.san@example.com.", "请联系 ##."),
            ("邮箱abc_1+x@mail.qq.com谢谢", "邮箱##谢谢"),
            ("a@b.cn, c-d@e-f.org.cn", "##, ##"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), h(want), "input {input:?}");
        }
        for input in ["@某某 说得对", "a@b", "x@y.1", "user@localhost"] {
            assert_eq!(scrub(input), input);
        }
    }

    #[test]
    fn mixed_and_untouched_text() {
        let input = "窗口态度差，我的电话138 0013 8000，邮箱 li@163.com，身份证 37098319800101123X";
        assert_eq!(
            scrub(input),
            h("窗口态度差，我的电话##，邮箱 ##，身份证 ##")
        );
        // A number running into an e-mail address: neither part may leak.
        assert_eq!(scrub("138 1234 5678a@b.cn。"), h("##。"));
        let plain = "门难进、脸难看、话难听、事难办的现象有所改善。";
        assert_eq!(scrub(plain), plain);
        assert_eq!(scrub(""), "");
    }
}
