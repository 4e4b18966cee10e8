/**
 * Synthetic inference traffic for the extraction monitor's tests (docs/GATE.md, "Extraction
 * monitoring", the figures): benign callers sending varied natural prompts in several languages
 * with normal token ratios, and extraction callers (templated prompts with slot fills, systematic
 * perturbations, long outputs, chain-of-thought elicitation, sybils sharing templates). Seeded: the
 * same seed gives the same traffic.
 */
import { promptFeatures } from '../../src/gate/monitor/features.js';
import type { InferAdmitEvent, InferSettleEvent } from '../../src/log/events.js';
import type { prng } from './prng.js';

type Rng = ReturnType<typeof prng>;

/** A language's word lists and sentence frames ({n} noun, {v} verb, {a} adjective, {p} place, {x} number). */
interface Language {
  nouns: string[];
  verbs: string[];
  adjectives: string[];
  places: string[];
  frames: string[];
  /** Concatenate without spaces (Chinese, Japanese). */
  unspaced?: boolean;
}

/** The words of a list written over several lines. */
const words = (text: string) => text.trim().split(/\s+/);

const EN: Language = {
  nouns: words(`
    garden river budget recipe engine history contract village battery museum poem network student
    invoice bridge winter guitar vaccine satellite harbor novel printer forest election kitchen protein
    telescope marathon bakery volcano spreadsheet orchestra migration glacier tax robot
  `),
  verbs: words(`
    fix plan compare describe improve cook paint measure repair organise translate explain choose clean
    train negotiate
  `),
  adjectives: 'old cheap quiet fast healthy ancient modern rural wooden tiny noisy reliable sunny bitter'.split(' '),
  places: 'Lisbon Nairobi Osaka Denver Krakow Lima Hanoi Oslo Dakar Perth'.split(' '),
  frames: [
    'How do I {v} a {a} {n}?',
    'What is the difference between a {n} and a {n}?',
    'Write a short poem about a {a} {n} in {p}.',
    'My {n} stopped working after I tried to {v} it, what should I check first?',
    'Give me three ideas for a weekend in {p} with a {n}.',
    'Is it safe to {v} a {n} near a {n}?',
    'Why is the {n} in {p} so {a}?',
    'Can you suggest a name for my {a} {n} shop?',
    'Summarise the history of the {n} in a few sentences.',
    'I have {x} {n}s and a {a} {n}; how can I {v} them all by Friday?',
    'Draft an email to my landlord about the {a} {n}.',
    'Which {n} would you recommend for a {a} apartment?',
    'Tell me a fun fact about {p}.',
    'What should I pack for {x} days in {p} in winter?',
  ],
};
const FR: Language = {
  nouns: words(`
    jardin rivière budget recette moteur contrat village batterie musée poème réseau étudiant facture
    pont hiver guitare forêt cuisine boulangerie volcan
  `),
  verbs: 'réparer planifier comparer décrire améliorer cuisiner peindre nettoyer choisir expliquer'.split(' '),
  adjectives: 'vieux calme rapide ancien moderne rural petit bruyant fiable ensoleillé'.split(' '),
  places: 'Lyon Marseille Québec Dakar Genève Bruxelles Lille Nantes'.split(' '),
  frames: [
    'Comment {v} un {n} {a} ?',
    'Quelle est la différence entre un {n} et un {n} ?',
    'Écris un court poème sur un {n} à {p}.',
    'Mon {n} ne marche plus, que dois-je vérifier ?',
    'Donne-moi trois idées pour un week-end à {p}.',
    'Pourquoi le {n} de {p} est-il si {a} ?',
    'Rédige un courriel à mon propriétaire au sujet du {n}.',
    'Que faut-il emporter pour {x} jours à {p} ?',
  ],
};
const DE: Language = {
  nouns: words(`
    Garten Fluss Haushalt Rezept Motor Vertrag Dorf Batterie Museum Gedicht Netzwerk Rechnung Brücke
    Winter Gitarre Wald Küche Bäckerei Vulkan
  `),
  verbs: 'reparieren planen vergleichen beschreiben verbessern kochen malen reinigen wählen erklären'.split(' '),
  adjectives: 'alt ruhig schnell modern ländlich klein laut zuverlässig sonnig'.split(' '),
  places: 'Berlin Hamburg Wien Zürich Köln Leipzig Bremen Graz'.split(' '),
  frames: [
    'Wie kann ich einen {a} {n} {v}?',
    'Was ist der Unterschied zwischen {n} und {n}?',
    'Schreib ein kurzes Gedicht über {n} in {p}.',
    'Mein {n} funktioniert nicht mehr, was soll ich prüfen?',
    'Gib mir drei Ideen für ein Wochenende in {p}.',
    'Warum ist der {n} in {p} so {a}?',
    'Was soll ich für {x} Tage in {p} einpacken?',
    'Schreib eine E-Mail an meinen Vermieter wegen {n}.',
    'Kennst du ein gutes Buch über {n}?',
    'Wie erkläre ich einem Kind, was ein {n} ist?',
  ],
};
const ES: Language = {
  nouns: words(`
    jardín río presupuesto receta motor contrato pueblo batería museo poema red factura puente invierno
    guitarra bosque cocina panadería volcán
  `),
  verbs: 'reparar planear comparar describir mejorar cocinar pintar limpiar elegir explicar'.split(' '),
  adjectives: 'viejo tranquilo rápido moderno rural pequeño ruidoso fiable soleado'.split(' '),
  places: 'Madrid Sevilla Lima Bogotá Quito Valencia Rosario Cusco'.split(' '),
  frames: [
    '¿Cómo puedo {v} un {n} {a}?',
    '¿Cuál es la diferencia entre un {n} y un {n}?',
    'Escribe un poema corto sobre un {n} en {p}.',
    'Mi {n} dejó de funcionar, ¿qué reviso primero?',
    'Dame tres ideas para un fin de semana en {p}.',
    '¿Qué llevo para {x} días en {p}?',
    'Escribe un correo a mi casero sobre el {n}.',
    '¿Conoces un buen libro sobre {n}?',
    '¿Por qué el {n} de {p} es tan {a}?',
  ],
};
const ZH: Language = {
  nouns: words(`
    花园 河流 预算 菜谱 发动机 合同 村庄 电池 博物馆 诗歌 网络 学生 发票 桥梁 冬天 吉他 森林 厨房 面包店 火山
  `),
  verbs: '修理 计划 比较 描述 改进 烹饪 画 清洁 选择 解释'.split(' '),
  adjectives: '古老 安静 快速 现代 农村 小 吵闹 可靠 晴朗'.split(' '),
  places: '北京 上海 成都 西安 杭州 广州 昆明 厦门'.split(' '),
  frames: [
    '怎样{v}一个{a}的{n}？',
    '{n}和{n}有什么区别？',
    '写一首关于{p}的{n}的短诗。',
    '我的{n}坏了，应该先检查什么？',
    '给我三个在{p}过周末的建议。',
    '为什么{p}的{n}这么{a}？',
    '去{p}玩{x}天应该带什么？',
    '请帮我给房东写一封关于{n}的邮件。',
    '{a}的{n}适合放在客厅吗？',
    '我想学习怎么{v}{n}，从哪里开始？',
    '有没有关于{n}的好书推荐？',
    '周末在{p}附近有什么{a}的地方？',
    '孩子问我{n}是怎么来的，我该怎么回答？',
    '帮我想一个{n}店的名字。',
    '用{x}块钱能买到{a}的{n}吗？',
  ],
  unspaced: true,
};
const JA: Language = {
  nouns: words(`
    庭 川 予算 レシピ エンジン 契約 村 電池 博物館 詩 ネットワーク 学生 請求書 橋 冬 ギター 森 台所 パン屋 火山
  `),
  verbs: '修理する 計画する 比較する 説明する 改善する 料理する 掃除する 選ぶ'.split(' '),
  adjectives: '古い 静かな 速い 現代的な 小さい うるさい 信頼できる'.split(' '),
  places: '東京 大阪 京都 札幌 福岡 那覇 仙台 神戸'.split(' '),
  frames: [
    '{a}{n}を{v}方法を教えてください。',
    '{n}と{n}の違いは何ですか？',
    '{p}の{n}についての短い詩を書いてください。',
    '{p}で週末を過ごすアイデアを三つください。',
    '{p}に{x}日間行くなら何を持っていけばいいですか？',
    '大家さんに{n}についてのメールを書いてください。',
    '{a}{n}は居間に合いますか？',
    '{n}を{v}には何から始めればいいですか？',
    '{n}についておすすめの本はありますか？',
    '子供に{n}のことを聞かれました。どう答えればいいですか？',
    '{n}の店の名前を考えてください。',
    '{x}円で{a}{n}は買えますか？',
    '{p}の近くで{a}場所はどこですか？',
  ],
  unspaced: true,
};
export const LANGUAGES = { en: EN, fr: FR, de: DE, es: ES, zh: ZH, ja: JA } as const;

/** One natural prompt: `sentences` filled frames of a language (default: two or three). */
export function naturalPrompt(r: Rng, lang: Language, sentences = 2 + r.int(2)): string {
  const filled = Array.from({ length: sentences }, () =>
    r.pick(lang.frames).replace(/\{([nvapx])\}/g, (_, k: string) => {
      if (k === 'x') return String(2 + r.int(30));
      return r.pick(k === 'n' ? lang.nouns : k === 'v' ? lang.verbs : k === 'a' ? lang.adjectives : lang.places);
    }),
  );
  return filled.join(lang.unspaced ? '' : ' ');
}

/** One call a generator makes: its prompt, tokens, and what the caller declares. */
export interface SyntheticCall {
  caller: string;
  application: string;
  prompt: string;
  promptTokens: number;
  completionTokens: number;
}

const tokensOf = (text: string) => Math.max(1, Math.round(text.length / 4));
/** A log-normal ratio around `median` (spread: the log's standard deviation). */
const ratio = (r: Rng, median: number, spread: number) => {
  const u1 = (r.int(1_000_000) + 1) / 1_000_001;
  const u2 = r.int(1_000_000) / 1_000_000;
  return median * Math.exp(spread * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
};

const BENIGN_APPS = [
  ['chat', 3, 0.05],
  ['translation', 1.1, 0],
  ['summarisation', 0.15, 0],
  ['code', 3, 0.1],
  ['', 2, 0.05],
] as const;

/** A benign caller's calls: natural prompts in one or two languages, the application's normal ratio. */
export function benignCaller(r: Rng, caller: string, calls: number): SyntheticCall[] {
  const langs = Object.values(LANGUAGES);
  const first = r.pick(langs);
  const second = r.int(3) === 0 ? r.pick(langs) : first;
  const [application, median, cotShare] = r.pick(BENIGN_APPS);
  return Array.from({ length: calls }, () => {
    let prompt = naturalPrompt(r, r.int(4) === 0 ? second : first);
    if (r.int(1000) < cotShare * 1000) prompt += ' Please explain step by step.';
    return syntheticCall(caller, application, prompt, ratio(r, median, 0.6));
  });
}

/** A call with the gateway's token estimate for its prompt and an output `outputRatio` times as long. */
function syntheticCall(caller: string, application: string, prompt: string, outputRatio: number): SyntheticCall {
  const promptTokens = tokensOf(prompt);
  return { caller, application, prompt, promptTokens, completionTokens: Math.round(promptTokens * outputRatio) };
}

const TEMPLATES = [
  'You are an expert assistant. Read the following customer message carefully and write a complete, detailed ' +
    'answer that covers every possible interpretation, with examples. Customer message: {slot}',
  'Answer the question below as a senior engineer would, giving the full reasoning, all intermediate results ' +
    'and a final answer in a separate paragraph. Question: {slot}',
  'Rewrite the text below in a formal register, then list every change you made and why, then give three ' +
    'alternative versions. Text: {slot}',
  'Classify the following statement into one of the categories science, politics, sport, culture, business, ' +
    'and justify the label in detail: {slot}',
];
const COT = [' Think step by step.', " Let's think step by step.", ' Show your reasoning before answering.'];

/** The kinds of extraction caller the generator makes. */
export type ExtractionKind = 'templated' | 'perturbation' | 'sybil';

/**
 * An extraction caller's calls. templated: a few long instruction templates with slot fills, long
 * outputs, chain-of-thought most of the time; perturbation: seed queries and systematic edits of them
 * (one word swapped, a word added) — PRADA's synthetic queries; sybil: one of several callers sending the
 * same templates, each with few calls.
 */
export function extractionCaller(
  r: Rng,
  caller: string,
  calls: number,
  kind: ExtractionKind,
  shared = 0,
): SyntheticCall[] {
  const application = r.pick(['chat', 'classification', '', 'summarisation']);
  const lang = r.pick([EN, EN, FR, DE, ZH]);
  const template = kind === 'sybil' ? TEMPLATES[shared % TEMPLATES.length]! : r.pick(TEMPLATES);
  const seeds = Array.from({ length: 4 }, () => naturalPrompt(r, lang));
  return Array.from({ length: calls }, () => {
    let prompt: string;
    if (kind === 'perturbation') {
      // Words of spaced scripts, characters of unspaced ones: one or two swapped, sometimes one added.
      const sep = lang.unspaced ? '' : ' ';
      const units = sep ? r.pick(seeds).split(sep) : Array.from(r.pick(seeds));
      for (let e = 1 + r.int(2); e > 0; e--) units[r.int(units.length)] = r.pick(lang.nouns);
      if (r.int(2) === 0) units.push(r.pick(lang.adjectives));
      prompt = units.join(sep);
    } else prompt = template.replace('{slot}', naturalPrompt(r, lang, 1));
    if (r.int(10) < 6) prompt += r.pick(COT);
    return syntheticCall(caller, application, prompt, ratio(r, 12, 0.5));
  });
}

/** Interleaves callers' calls in a random log order (each caller's own order kept). */
export function interleave(r: Rng, streams: SyntheticCall[][]): SyntheticCall[] {
  const queues = streams.map((s) => [...s].reverse()).filter((q) => q.length > 0);
  const out: SyntheticCall[] = [];
  while (queues.length > 0) {
    const i = r.int(queues.length);
    out.push(queues[i]!.pop()!);
    if (queues[i]!.length === 0) queues.splice(i, 1);
  }
  return out;
}

let serial = 0;
/** The admit and settle entries a gateway logs for a call (allowed, completed). */
export function callEvents(call: SyntheticCall, time: Date): [InferAdmitEvent, Omit<InferSettleEvent, 'admit'>] {
  const id = (++serial).toString(16).padStart(32, '0');
  const iso = time.toISOString();
  const admit: InferAdmitEvent = {
    v: 1,
    type: 'infer-admit',
    time: iso,
    id,
    recipient: call.caller,
    org: `org-${call.caller}`,
    country: 'DE',
    key: `key-${call.caller}`,
    certificate: null,
    model: 'tiny-llama',
    artifact: null,
    endpoint: 'chat.completions',
    license: null,
    destination: 'DE',
    application: call.application,
    decision: 'allow',
    reason: 'allowed',
    policies: ['permit-infer'],
    policySet: 'sha256:' + '0'.repeat(64),
    ip: '192.0.2.1',
    reserved: { tokens: call.promptTokens + 512, flops: String(2 * 1_000_000 * (call.promptTokens + 512)) },
    quotas: '',
    prompt: 'sha256:' + '1'.repeat(64),
    features: promptFeatures(call.prompt, call.promptTokens),
    risk: 0,
    stream: false,
  };
  const settle: Omit<InferSettleEvent, 'admit'> = {
    v: 1,
    type: 'infer-settle',
    time: iso,
    id,
    recipient: call.caller,
    model: 'tiny-llama',
    outcome: 'completed',
    status: 200,
    tokens: { prompt: call.promptTokens, completion: call.completionTokens },
    estimated: false,
    flops: String(2 * 1_000_000 * (call.promptTokens + call.completionTokens)),
    durationMs: 120,
    output: 'sha256:' + '2'.repeat(64),
    stream: false,
  };
  return [admit, settle];
}
