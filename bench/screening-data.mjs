// Synthetic but realistic list entities for bench/screening.mjs: a seeded generator of multi-token
// person and company names across naming cultures, with aliases, weak aliases and qualifiers.

/** A seeded PRNG (mulberry32): the same seed gives the same list on every machine. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (rnd, list) => list[Math.floor(rnd() * list.length)];
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const SYL = (
  'ka ri mo na lev sa to vi ra dan mir gor bo lu ne sha tal ro min ber zan ko pe li ta vo du gra stan ' +
  'bel var nik tro hal qas jar dim fer gul hem kor lin mar nor pol rus sel tur ug vel yar zor bak ' +
  'dor fal gan has kem mun nas or pir sul tem val wen zek ash bur cem dag ep fir gol hun ir jen kas ' +
  'lom mek nur os pav rim sev tor um vad yus zam'
).split(' ');
const word = (rnd, n) => cap(Array.from({ length: n }, () => pick(rnd, SYL)).join(''));

const CULTURES = {
  russian(rnd) {
    const given = pick(rnd, [
      'Sergey',
      'Vladimir',
      'Igor',
      'Oleg',
      'Dmitry',
      'Alexei',
      'Yuri',
      'Nikolai',
      'Andrei',
      'Mikhail',
      'Pavel',
      'Viktor',
      'Roman',
      'Arkady',
      'Gennady',
    ]);
    const father = pick(rnd, ['Ivan', 'Viktor', 'Roman', 'Pavel', 'Boris', 'Petr', 'Oleg', 'Yuri']);
    const surname = word(rnd, 2) + pick(rnd, ['ov', 'ev', 'in', 'sky', 'enko', 'chuk', 'ovich']);
    return [`${given} ${father}ovich ${surname}`, `${surname.toUpperCase()}, ${given}`];
  },
  arabic(rnd) {
    const given = pick(rnd, [
      'Mohammed',
      'Ahmad',
      'Ali',
      'Hassan',
      'Hussein',
      'Abdul Rahman',
      'Khalid',
      'Omar',
      'Yusuf',
      'Ibrahim',
      'Saif',
      'Tariq',
      'Nabil',
      'Samir',
    ]);
    const father = pick(rnd, ['Abdullah', 'Salim', 'Mahmoud', 'Karim', 'Jamal', 'Nasser', 'Faisal']);
    const tribe = word(rnd, 2).toLowerCase();
    return [`${given} bin ${father} al-${cap(tribe)}`, `${given} ${father} ${cap(tribe)}i`];
  },
  chinese(rnd) {
    const sur = pick(rnd, [
      'Wang',
      'Li',
      'Zhang',
      'Liu',
      'Chen',
      'Yang',
      'Zhao',
      'Huang',
      'Zhou',
      'Wu',
      'Xu',
      'Sun',
      'Ma',
      'Zhu',
      'Hu',
      'Guo',
    ]);
    const py = [
      'jin',
      'ping',
      'qiang',
      'wei',
      'hua',
      'ming',
      'xiao',
      'long',
      'feng',
      'yi',
      'jun',
      'hong',
      'lei',
      'bo',
      'xin',
      'yu',
    ];
    const given = cap(pick(rnd, py) + (rnd() < 0.7 ? pick(rnd, py) : ''));
    return [`${sur.toUpperCase()} ${given}`, `${given} ${sur}`];
  },
  korean(rnd) {
    const sur = pick(rnd, ['Kim', 'Ri', 'Pak', 'Choe', 'Jang', 'Kang', 'Han', 'Ryu', 'O', 'So']);
    const syl = ['Jong', 'Yong', 'Song', 'Chol', 'Il', 'Su', 'Hyok', 'Myong', 'Nam', 'Chun', 'Ho', 'Gwang', 'Kyong'];
    const a = pick(rnd, syl);
    const b = pick(rnd, syl).toLowerCase();
    return [`${sur.toUpperCase()} ${a}-${b}`, `${sur} ${a} ${cap(b)}`];
  },
  western(rnd) {
    const given = pick(rnd, [
      'John',
      'Maria',
      'Hans',
      'Pierre',
      'Carlos',
      'Anna',
      'James',
      'Luis',
      'Klaus',
      'Elena',
      'Thomas',
      'Sofia',
      'Pedro',
      'Laura',
    ]);
    const middle = rnd() < 0.4 ? ` ${pick(rnd, ['A.', 'J.', 'Maria', 'Paul', 'de la'])}` : '';
    const surname = word(rnd, 2 + Math.floor(rnd() * 2)) + pick(rnd, ['', 'er', 'ez', 'mann', 'son', 'elli']);
    return [`${given}${middle} ${surname}`, `${surname.toUpperCase()}, ${given}`];
  },
  company(rnd) {
    const core = word(rnd, 2 + Math.floor(rnd() * 2));
    const trade = pick(rnd, [
      'Trading',
      'Shipping',
      'Petroleum',
      'Engineering',
      'Bank',
      'Logistics',
      'Industrial',
      'Technologies',
      'Mining',
      'Aviation',
      'Holding',
      'Electronics',
    ]);
    const place =
      rnd() < 0.3 ? ` ${pick(rnd, ['International', 'Middle East', 'Asia', 'Eurasia', 'Global', 'Overseas'])}` : '';
    const form = pick(rnd, [
      'LLC',
      'Ltd',
      'JSC',
      'GmbH',
      'Co., Ltd.',
      'S.A.',
      'FZE',
      'Limited',
      'Corporation',
      'OOO',
      'PJSC',
    ]);
    return [
      `${core} ${trade}${place} ${form}`,
      `${core.toUpperCase()} ${trade.toUpperCase()} ${pick(rnd, ['LIMITED', 'COMPANY', 'CORP'])}`,
    ];
  },
};
const KINDS = ['russian', 'arabic', 'chinese', 'korean', 'western', 'western', 'company', 'company', 'company'];
const COUNTRIES = ['RU', 'IR', 'CN', 'KP', 'SY', 'AE', 'TR', 'DE', 'US', 'VE', 'BY', 'HK'];

/** `count` list entities, about 3.3 names each, generated lazily from `seed`. */
export function* entities(count, seed = 1) {
  const rnd = random(seed);
  for (let i = 0; i < count; i++) {
    const kind = pick(rnd, KINDS);
    const [name, alias] = CULTURES[kind](rnd);
    const person = kind !== 'company';
    const year = 1940 + Math.floor(rnd() * 60);
    yield {
      id: `syn-${i}`,
      schema: person ? 'Person' : 'Company',
      names: [name],
      aliases: rnd() < 0.95 ? [alias, CULTURES[kind](rnd)[0]] : [alias],
      weakAliases: person && rnd() < 0.45 ? [word(rnd, 2)] : [],
      countries: [pick(rnd, COUNTRIES)],
      dob: person ? [`${year}`] : [],
      ids: !person && rnd() < 0.3 ? [`REG-${Math.floor(rnd() * 1e8)}`] : [],
      list: 'SYN',
      programs: [],
    };
  }
}

/** Queries: listed names with a typo, reordered or cut, and names not on the list. */
export function queries(count, listSize, seed = 2) {
  const rnd = random(seed);
  const listed = [...entities(Math.min(listSize, 5000), 1)];
  const out = [];
  for (let i = 0; i < count; i++) {
    if (rnd() < 0.5) {
      const [name] = CULTURES[pick(rnd, KINDS)](rnd);
      out.push({ id: `q${i}`, name });
      continue;
    }
    const e = pick(rnd, listed);
    let tokens = e.names[0].split(' ');
    const r = rnd();
    if (r < 0.3) tokens = tokens.reverse();
    else if (r < 0.6 && tokens.length > 2) tokens.splice(1, 1);
    else {
      const k = Math.floor(rnd() * tokens.length);
      const t = tokens[k];
      const p = 1 + Math.floor(rnd() * Math.max(1, t.length - 1));
      tokens[k] = t.slice(0, p) + pick(rnd, ['a', 'e', 'o', 'i']) + t.slice(p + 1);
    }
    out.push({ id: `q${i}`, name: tokens.join(' '), type: e.schema === 'Person' ? 'person' : 'company' });
  }
  return out;
}
