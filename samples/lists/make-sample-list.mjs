// Writes sample-consolidated.json beside this script: FICTIONAL parties in the shape of trade.gov's
// consolidated.json (the Consolidated Screening List). Sample data for the demo and docs, not a real list.
// Usage: node samples/lists/make-sample-list.mjs [output] (default: beside this script). Deterministic.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const SRC = 'SAMPLE — not a real list (SAMPLE)';
const P = ['SAMPLE — not a real list'];
const parties = [
  ['E', 'VOLKOV DYNAMICS JSC', ['VOLKOV DYNAMICS JOINT STOCK COMPANY'], 'RU', 'Ul. Sample 1', 'Novosibirsk'],
  ['E', 'NORTHWIND PHOTONICS TRADING LLC', ['Northwind Photonic Trading'], 'AE', 'Sample Tower 4', 'Dubai'],
  ['E', 'KESTREL ARC SYSTEMS LTD', [], 'HK', '88 Example Road', 'Kowloon'],
  ['E', 'BLUE LATTICE COMPUTE CO', ['Blue Lattice Computing'], 'CN', '12 Sample Avenue', 'Shenzhen'],
  ['E', 'ORIONEX MICRODEVICES', [], 'IR', 'Sample Street 9', 'Tehran'],
  ['E', 'SERRANA TENSOR HOLDINGS SA', [], 'VE', 'Avenida Ejemplo 3', 'Caracas'],
  ['E', 'PAKHTA NEURAL LABS', ['Pakhta Neyro Laboratoriya'], 'UZ', 'Sample Ko‘chasi 5', 'Tashkent'],
  ['E', 'GREYFJORD LOGISTICS AS', [], 'NO', 'Eksempelgata 2', 'Bergen'],
  ['E', 'ZENITH-KARAT ENGINEERING', ['Зенит-Карат Инжиниринг'], 'BY', 'Sample Prospekt 11', 'Minsk'],
  ['E', 'QUILLON SEMICONDUCTOR FZE', [], 'AE', 'Free Zone Plot 7', 'Sharjah'],
  ['E', 'MARROWLEAF DATA CENTRES', [], 'SY', 'Sample Square 1', 'Damascus'],
  ['E', 'TAMARIND VECTOR INDUSTRIES', ['Tamarind Vector Ind.'], 'KP', 'Sample District 2', 'Pyongyang'],
  ['E', 'HELIODOR RADAR WORKS', [], 'RU', 'Ul. Primer 14', 'Kazan'],
  ['E', 'CINDERPEAK AEROSPACE OOO', ['Синдерпик Аэроспейс'], 'RU', 'Ul. Obrazets 3', 'Samara'],
  ['E', 'LUMEVA CRYPTOGRAPHIC SUPPLY', [], 'MM', 'Sample Lane 6', 'Yangon'],
  ['E', 'OSTRAKON TRADING HOUSE', [], 'CY', '5 Example Street', 'Limassol'],
  ['E', 'VANTAGE POLAR MARINE', [], 'PA', 'Calle Muestra 8', 'Panama City'],
  ['E', 'RIVENGATE ANALYTICS', [], 'IR', 'Sample Boulevard 21', 'Isfahan'],
  ['E', 'SABLE HORIZON TECHNOLOGIES', ['Sable Horizon Tech'], 'CN', '3 Sample Park', 'Hefei'],
  ['E', 'ANTHRACITE GRID SOLUTIONS', [], 'KP', 'Sample Ward 4', 'Nampo'],
  ['E', 'MIRELLO OPTRONICS SRL', [], 'MD', 'Strada Exemplu 2', 'Chisinau'],
  ['E', 'TIDEWRIGHT CHEMICAL PARTNERS', [], 'SY', 'Sample Road 17', 'Aleppo'],
  ['I', 'KARAVAEV, Dmitri Olegovich (SAMPLE)', ['Дмитрий Олегович КАРАВАЕВ (ОБРАЗЕЦ)'], 'RU', 'Ul. Primer 2', 'Moscow'],
  ['I', 'ZANDIYEH, Farid (SAMPLE)', [], 'IR', 'Sample Alley 3', 'Shiraz'],
  ['I', 'OKONKWO-REYES, Talia (SAMPLE)', [], 'VE', 'Calle Muestra 1', 'Maracaibo'],
  ['I', 'BRANDT-ILIESCU, Marek (SAMPLE)', [], 'RO', 'Strada Exemplu 9', 'Constanta'],
  ['I', 'CHOE, Sun-Hwa (SAMPLE)', [], 'KP', 'Sample Ward 8', 'Pyongyang'],
  ['I', 'HALVORSEN-MBEKI, Ingrid (SAMPLE)', [], 'ZA', '10 Sample Drive', 'Durban'],
  ['E', 'MV SILENT OSPREY (SAMPLE VESSEL)', [], 'KP', '', ''],
  ['E', 'CORVID LANE FREIGHT', [], 'TR', 'Örnek Caddesi 4', 'Mersin'],
];
const results = parties.map(([t, name, alt, cc, street, city], i) => ({
  id: `SAMPLE-${String(i + 1).padStart(3, '0')}`,
  source: SRC,
  entity_number: 900000 + i + 1,
  type: t === 'I' ? 'Individual' : name.startsWith('MV ') ? 'Vessel' : 'Entity',
  programs: P,
  name,
  title: null,
  addresses: street ? [{ address: street, city, state: null, postal_code: null, country: cc }] : [],
  remarks:
    'SAMPLE DATA: a fictional party made up for the modelseal demo; ' +
    'not a real list entry, not a real person or company.',
  source_list_url: null,
  alt_names: alt,
  citizenships: t === 'I' ? [cc] : [],
  dates_of_birth: [],
  nationalities: t === 'I' ? [cc] : [],
  places_of_birth: [],
  source_information_url: null,
  ids: [],
}));
const doc = {
  total: results.length,
  sources_used: [{ source: SRC, source_last_updated: '2026-12-01T00:00:00Z', last_imported: '2026-12-01T00:00:00Z' }],
  search_performed_at: '2026-12-01T00:00:00Z',
  results,
};
const out = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'sample-consolidated.json');
writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
