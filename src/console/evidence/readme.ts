/** The pack's README.txt: what a person opening the archive reads first. */

/** The README of a pack of log `origin`, made at `generated`. */
export function readmeText(origin: string, generated: string): string {
  return `modelseal evidence pack (format "modelseal evidence v1")
Log: ${origin}
Made: ${generated}

This archive holds log entries of a modelseal release service, the proofs that they are in its
transparency log, and the records each decision rests on. Check it with:

  modelseal audit verify-export <this file> --log-key <the log's verifier key>

It checks everything offline. To check by hand (docs/AUDIT.md, "Checking a pack by hand"):

  manifest        a signed note (C2SP signed-note) by the log key: "modelseal evidence v1",
                  "origin <log>", then "<sha256> <size> <name>" for every other file
  log.vkey        the log's verifier key, for reference (take the key from the operator, not from here)
  checkpoint      the signed checkpoint (C2SP tlog-checkpoint) every proof below is against
  latest          the log's latest checkpoint when the pack was made
  consistency     "modelseal consistency v1", the two tree sizes, then the RFC 9162 consistency
                  proof from checkpoint to latest, one base64 hash a line
  entries/N.proof the entry at index N with its inclusion proof (C2SP tlog-proof, entry in "extra")
  decisions.json  per entry: its proof, the record files it rests on, and any record missing (gaps)
  records/        policy sets, screening list snapshots, recipients, classification records and datasheets
  report.json     the figures of the selected entries; report.html the same as a page

Export records are kept for five years (15 CFR 762.6): keep this archive at least that long.
`;
}
