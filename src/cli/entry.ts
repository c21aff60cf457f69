/** Node entry of the `treespec` binary (bundled by vite.lib.config.ts into dist/cli.js). */
import { version } from '../../package.json';
import { main } from './main';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`${version}\n`);
  process.exit(0);
}
main(argv).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
