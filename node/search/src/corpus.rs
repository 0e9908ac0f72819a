//! A deterministic generator of chat history for tests and benchmarks (feature
//! `test-utils`).
//!
//! Messages are 5 to 30 words (Chinese and Japanese: 5 to 30 characters' worth of words,
//! written without spaces) in one of seven languages, mixed as a multilingual user's
//! history might be: English 45 %, Spanish 15 %, German 10 %, Russian 10 %, Chinese 10 %,
//! Arabic 5 %, Japanese 5 %. Within a language, words follow a Zipf law (the word of rank
//! `r` has weight `1 / r^1.07`, as measured for natural text) over a vocabulary of
//! [`VOCABULARY`] words: its most common real words first, then made-up words of the
//! language's letters, which give the long tail of rare words (names, typos, slang) that
//! real chat has. One message in eight carries an emoji; one in four ends in `?` or `!`.
//!
//! The generator is a SplitMix64 stream: the same seed gives the same history on every
//! machine and every run.

use crate::DocKey;

/// Words in each language's vocabulary.
pub const VOCABULARY: usize = 20_000;

/// The Zipf exponent of word ranks.
const ZIPF_EXPONENT: f64 = 1.07;

struct Language {
    common: &'static str,
    /// Syllables made-up words are built from.
    syllables: &'static str,
    spaced: bool,
    weight: u32,
}

const LANGUAGES: &[Language] = &[
    Language {
        common: "i you the to a and it is that of in me my for have on do what be this \
                 not so just we can know but are was with like no get all your ok yeah \
                 good will at go if lol about how now when up time think there tomorrow \
                 see out one love want too see thanks going today really day back did \
                 got why then need here well right yes come work home tonight dinner \
                 friday call later sure meet weekend morning night sorry great nice",
        syllables: "ba be bi bo ka ke ki ko la le li lo ma me mi mo na ne ni no ra re ri \
                    ro sa se si so ta te ti to ver ton ster ing ell ark",
        spaced: true,
        weight: 45,
    },
    Language {
        common: "de que no a la el es y en lo un por me una te los se con para mi está \
                 si bien pero yo eso las sí su tu aquí del al como le más esto ya todo \
                 mañana hoy noche gracias vamos cuándo dónde qué café casa trabajo",
        syllables: "ba be bi bo ca ce ci co da de di do la le li lo ma me mi mo na ne ni \
                    ño ra re ri ro sa se si so ta te ti to ción",
        spaced: true,
        weight: 15,
    },
    Language {
        common: "ich du das ist nicht die und es sie der wir was zu ein er in mir mit \
                 ja wie den auf mich dass so nein hier eine wenn hat bin noch dich uns \
                 morgen heute abend danke gut schön müssen können grüße straße später",
        syllables: "ba be bi bo ka ke ki ko la le li lo ma me mi mo na ne ni no ra re ri \
                    ro sa se si so ta te ti to sch ung ä ö ü ß",
        spaced: true,
        weight: 10,
    },
    Language {
        common: "я не что ты в и на это с он как мне так да вы меня все но мы его был \
                 за она ну тебя нет бы когда уже здесь сейчас завтра сегодня вечером \
                 спасибо хорошо привет пока встреча работа дома",
        syllables: "ба бе би бо ка ке ки ко ла ле ли ло ма ме ми мо на не ни но ра ре ри \
                    ро са се си со та те ти то щ ы ё",
        spaced: true,
        weight: 10,
    },
    Language {
        common: "的 一 是 不 了 人 我 在 有 他 这 中 大 来 上 国 个 到 说 们 为 子 和 你 \
                 地 出 道 也 时 年 明天 今天 晚上 北京 东京 吃饭 朋友 工作 谢谢 没有 \
                 知道 我们 什么 时候 可以 现在",
        syllables: "天 地 山 水 火 木 金 土 日 月 星 风 雨 花 草 鸟 鱼 马 牛 羊 心 手 口 \
                    目 耳 书 车 路 门 家 海 河 林 石 田 云 雪 光 电",
        spaced: false,
        weight: 10,
    },
    Language {
        common: "في من على أن إلى هذا ما لا مع هل أنا أنت كان هو هي نحن غدا اليوم \
                 الليلة شكرا مرحبا حسنا البيت العمل القهوة متى أين لماذا",
        syllables: "با بي بو تا تي تو سا سي سو لا لي لو ما مي مو نا ني نو را ري رو كا \
                    كي كو ة ى",
        spaced: true,
        weight: 5,
    },
    Language {
        common: "の に は を た が で て と し れ さ ある いる も する から な こと \
                 として 明日 今日 今夜 東京 駅 会議 ありがとう 大丈夫 コーヒー ラーメン \
                 テレビ メール",
        syllables: "か き く け こ さ し す せ そ た ち つ て と な に ぬ ね の カ キ ク ケ \
                    コ サ シ ス 山 川 田 本 人",
        spaced: false,
        weight: 5,
    },
];

const EMOJI: &[&str] = &[
    "😂",
    "❤️",
    "👍",
    "👍🏽",
    "🎉",
    "😊",
    "🙏",
    "😭",
    "🔥",
    "😅",
    "👨‍👩‍👧",
    "🇩🇪",
];

/// Generates messages. See the module documentation.
///
/// ```
/// let mut corpus = tern_search::corpus::Corpus::new(1);
/// let message = corpus.message();
/// assert!(!message.is_empty());
/// assert_eq!(tern_search::corpus::Corpus::new(1).message(), message);
/// ```
#[derive(Debug, Clone)]
pub struct Corpus {
    state: u64,
    vocabularies: Vec<Vec<String>>,
    /// Cumulative Zipf weights of ranks `1..=VOCABULARY`, scaled to the last.
    zipf: Vec<f64>,
}

impl Corpus {
    /// A generator whose output is fixed by `seed`.
    pub fn new(seed: u64) -> Corpus {
        let mut corpus = Corpus {
            state: seed,
            vocabularies: Vec::new(),
            zipf: Vec::with_capacity(VOCABULARY),
        };
        let mut total = 0.0;
        for rank in 1..=VOCABULARY {
            // Cannot lose precision: ranks are far below 2^52.
            #[allow(clippy::cast_precision_loss)]
            let rank = rank as f64;
            total += 1.0 / rank.powf(ZIPF_EXPONENT);
            corpus.zipf.push(total);
        }
        // The vocabularies come from a stream of their own, so that they are the same for
        // every seed: two corpora share their words and differ in their messages.
        let mut words = Corpus {
            state: 0x7e2a_5eed,
            vocabularies: Vec::new(),
            zipf: Vec::new(),
        };
        corpus.vocabularies = LANGUAGES.iter().map(|l| words.vocabulary(l)).collect();
        corpus
    }

    /// One message's text.
    pub fn message(&mut self) -> String {
        let total: u32 = LANGUAGES.iter().map(|l| l.weight).sum();
        let mut pick = self.below(total);
        let mut language = 0;
        for (i, l) in LANGUAGES.iter().enumerate() {
            if pick < l.weight {
                language = i;
                break;
            }
            pick -= l.weight;
        }
        let spaced = LANGUAGES.get(language).is_none_or(|l| l.spaced);
        let words = 5 + self.below(26);
        let mut text = String::new();
        for i in 0..words {
            if i > 0 && spaced {
                text.push(' ');
            }
            let rank = self.zipf_rank();
            let capital = i == 0 && spaced && self.below(2) == 0;
            if let Some(word) = self.vocabularies.get(language).and_then(|v| v.get(rank)) {
                if capital {
                    let mut chars = word.chars();
                    text.extend(chars.next().into_iter().flat_map(char::to_uppercase));
                    text.extend(chars);
                } else {
                    text.push_str(word);
                }
            }
        }
        match self.below(8) {
            0 => text.push('?'),
            1 => text.push('!'),
            _ => {}
        }
        if self.below(8) == 0 {
            text.push(' ');
            let emoji = self.below(EMOJI.len() as u32) as usize;
            text.push_str(EMOJI.get(emoji).copied().unwrap_or_default());
        }
        text
    }

    /// `count` messages spread over `conversations` conversations, with stamps spread
    /// evenly over `span_ms` milliseconds from `start_ms` (in the node's stamp format:
    /// milliseconds shifted left by 16 bits), oldest first, and message ids from the
    /// generator.
    pub fn history(
        &mut self,
        count: usize,
        conversations: u32,
        start_ms: u64,
        span_ms: u64,
    ) -> Vec<(DocKey, String)> {
        let step = span_ms / (count.max(1) as u64);
        (0..count)
            .map(|i| {
                let mut conversation = [0u8; 16];
                conversation[..4].copy_from_slice(&self.below(conversations.max(1)).to_be_bytes());
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
                id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
                let ms = start_ms + step * i as u64;
                (DocKey::new(conversation, ms << 16, id), self.message())
            })
            .collect()
    }

    /// The words of `language`, most common first.
    fn vocabulary(&mut self, language: &Language) -> Vec<String> {
        let mut words: Vec<String> = Vec::with_capacity(VOCABULARY);
        let mut seen = std::collections::HashSet::new();
        for word in language.common.split_whitespace() {
            if seen.insert(word.to_string()) {
                words.push(word.to_string());
            }
        }
        let syllables: Vec<&str> = language.syllables.split_whitespace().collect();
        while words.len() < VOCABULARY {
            let parts = 2 + self.below(3);
            let word: String = (0..parts)
                .filter_map(|_| syllables.get(self.below(syllables.len() as u32) as usize))
                .copied()
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        words
    }

    /// A word rank, `0..VOCABULARY`, Zipf-distributed.
    fn zipf_rank(&mut self) -> usize {
        let total = self.zipf.last().copied().unwrap_or(1.0);
        // 53 random bits make a uniform f64 in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.zipf.partition_point(|&c| c <= x).min(VOCABULARY - 1)
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift (the bias is below 2^-32).
    fn below(&mut self, n: u32) -> u32 {
        // The product of a 32-bit number and n fits in 64 bits; its top half is below n.
        #[allow(clippy::cast_possible_truncation)]
        let r = (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32;
        r
    }

    /// SplitMix64.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
