import type { Command } from 'commander';
import { exportForHuggingFace, type HfExportOptions } from '../../src/index.js';
import { emitJson, say, warn, type GlobalOptions } from '../util.js';

/** The options as commander gives them: the package is the argument. */
type ExportFlags = Omit<HfExportOptions, 'package'>;

/** `hf export`: a folder ready for `huggingface-cli upload`. */
export function registerHf(program: Command): void {
  const h = program.command('hf').description('Hugging Face (docs/REGISTRY.md)');
  h.command('export')
    .description(
      'write a folder ready for `huggingface-cli upload`: the package, a model card (README.md) with gated ' +
        'access and the steps to get a license and open it, and model.sig when given',
    )
    .argument('<package>', 'package file')
    .requiredOption('-o, --output <dir>', 'the folder to create')
    .option(
      '--license <id|name>',
      "a Hub license id (apache-2.0, llama3.1, …) or another license's name (default: other)",
    )
    .option('--base-model <id>', 'the Hub id of the model these weights derive from')
    .option('--release-url <url>', "the release service the card names (default: the package's)")
    .option(
      '--signature <model.sig>',
      'the model.sig `modelseal open` wrote for this package, to include (checked against the package signer ' +
        'and model first); it is sealed inside the package, so it cannot be had without opening it',
    )
    .option('--force', 'replace the output folder if it exists')
    .action(async (pkg: string, o: ExportFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const r = await exportForHuggingFace({
        package: pkg,
        output: o.output,
        ...(o.license !== undefined ? { license: o.license } : {}),
        ...(o.baseModel !== undefined ? { baseModel: o.baseModel } : {}),
        ...(o.releaseUrl !== undefined ? { releaseUrl: o.releaseUrl } : {}),
        ...(o.signature !== undefined ? { signature: o.signature } : {}),
        ...(o.force ? { force: true } : {}),
      });
      emitJson(g, 'hf export', r);
      say(g, `wrote ${r.output}: ${r.files.join(', ')}`);
      say(
        g,
        `  upload: hf upload <org>/<repo> ${r.output} .   (huggingface-cli upload with huggingface_hub before 1.0)`,
      );
      if (!r.signature && !g.json && !g.quiet)
        warn('no model.sig in the folder: it is sealed inside the package; pass --signature with the one open wrote');
    });
}
