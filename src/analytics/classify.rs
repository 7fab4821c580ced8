//! Which dimension a free-text suggestion is about (text questions carry no dimension of
//! their own). Each dimension has words that speak for it; the dimension whose words cover the
//! most characters of the text wins, ties going to the earlier dimension of [`WORDS`]; "other"
//! when no word matches. Places ("窗口", "大厅") are not evidence of a dimension: "窗口工作人员
//! 态度很好" is about attitude, not efficiency.

/// Dimension codes as in `surveys/*.toml`, with the words that speak for them.
const WORDS: [(&str, &[&str]); 6] = [
    (
        "attitude",
        &[
            "态度",
            "热情",
            "耐心",
            "不耐烦",
            "冷漠",
            "脸色",
            "脸难看",
            "话难听",
            "门难进",
            "事难办",
            "文明用语",
            "礼貌",
            "微笑",
            "作风",
            "服务意识",
            "服务群众",
            "训斥",
            "敷衍",
            "蛮横",
            "态度好",
            "和蔼",
        ],
    ),
    (
        "integrity",
        &[
            "廉洁",
            "廉政",
            "清正",
            "吃拿卡要",
            "吃、拿、卡、要",
            "乱收费",
            "收费",
            "红包",
            "送礼",
            "腐败",
            "回扣",
            "好处费",
            "财经纪律",
            "财务管理",
        ],
    ),
    (
        "lawful",
        &[
            "依法",
            "执法",
            "违法",
            "合法",
            "法规",
            "乱作为",
            "乱罚款",
            "罚款",
            "公正",
            "依规",
            "机构编制",
            "超编",
            "合法性审查",
            "民主决策",
        ],
    ),
    (
        "coordination",
        &[
            "协调",
            "配合",
            "推诿",
            "扯皮",
            "踢皮球",
            "部门之间",
            "信息共享",
            "会商",
            "沟通",
            "协作",
            "互相推",
        ],
    ),
    (
        "efficiency",
        &[
            "效率",
            "慢作为",
            "不作为",
            "办事慢",
            "太慢",
            "拖延",
            "拖拉",
            "等待",
            "排队",
            "跑腿",
            "多跑",
            "跑了",
            "一次办好",
            "时限",
            "办结",
            "流程",
            "环节",
            "审批",
            "繁琐",
            "简化",
            "卡顿",
            "系统",
            "网上办",
            "预约",
            "材料",
            "及时",
            "周末",
            "延长",
        ],
    ),
    (
        "performance",
        &[
            "职责",
            "政策",
            "宣传",
            "解读",
            "落实",
            "政务公开",
            "信息公开",
            "公开",
            "办实事",
            "重点工作",
            "工作任务",
            "办事指南",
            "执行力",
            "创新",
            "履职",
            "决策部署",
            "培训",
            "绩效考核",
        ],
    ),
];

/// The dimension code a suggestion is filed under, or "other".
pub fn classify(text: &str) -> &'static str {
    let mut best: (&'static str, usize) = ("other", 0);
    for (dim, words) in WORDS {
        let covered: usize = words
            .iter()
            .filter(|w| text.contains(*w))
            .map(|w| w.chars().count())
            .sum();
        if covered > best.1 {
            best = (dim, covered);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::classify;

    /// Suggestions as people write them about the themes of the shipped questionnaires, each
    /// with the dimension a reader would file it under.
    const LABELLED: &[(&str, &str)] = &[
        ("窗口工作人员态度很好", "attitude"),
        ("窗口工作人员态度冷漠，说话不耐烦", "attitude"),
        ("大厅的工作人员很热情耐心", "attitude"),
        ("希望改变门难进、脸难看的作风", "attitude"),
        ("窗口办事效率太低，排队等了两个小时", "efficiency"),
        ("办事流程太繁琐，材料要交好几次", "efficiency"),
        ("希望延长周末服务时间", "efficiency"),
        ("网上办事系统经常卡顿", "efficiency"),
        ("跑了三趟才办完，希望一次办好", "efficiency"),
        ("个别人员吃拿卡要，收红包", "integrity"),
        ("办证乱收费", "integrity"),
        ("执法不公正，希望依法办事", "lawful"),
        ("罚款没有依据，乱作为", "lawful"),
        ("部门之间互相推诿扯皮", "coordination"),
        ("需要配合的事情总是拖着，希望加强沟通协调", "coordination"),
        ("政策宣传不到位，很多人不知道", "performance"),
        ("希望加强政策解读和信息公开", "performance"),
        ("职责落实不到位", "performance"),
        ("谢谢", "other"),
    ];

    #[test]
    fn labelled_suggestions_go_to_their_dimension() {
        let wrong: Vec<String> = LABELLED
            .iter()
            .filter(|(t, d)| classify(t) != *d)
            .map(|(t, d)| format!("{t}: {} (expected {d})", classify(t)))
            .collect();
        assert!(wrong.is_empty(), "misfiled: {wrong:#?}");
    }

    /// The shipped questions themselves, labelled by the dimension their questionnaire puts them
    /// in: the classifier files nearly all of them where the questionnaire does.
    #[test]
    fn the_questionnaires_own_items_are_mostly_filed_where_they_belong() {
        let mut total = 0;
        let mut wrong = Vec::new();
        for q in crate::questionnaire::builtin().expect("shipped questionnaires") {
            for item in &q.questions {
                let Some(dim) = item.dimension.as_deref() else {
                    continue;
                };
                if dim == "overall" {
                    continue;
                }
                total += 1;
                let got = classify(&item.text.zh);
                if got != dim {
                    wrong.push(format!("{}: {got} (questionnaire: {dim})", item.text.zh));
                }
            }
        }
        assert!(total >= 40, "{total} labelled items");
        assert!(
            wrong.len() * 10 <= total,
            "{} of {total} misfiled: {wrong:#?}",
            wrong.len()
        );
    }
}
