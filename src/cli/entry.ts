/** Node entry of the `treespec` binary (bundled by vite.lib.config.ts into dist/cli.js). */
import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
