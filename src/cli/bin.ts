// Process entry for the `sftkit` binary (bin/sftkit.js loads the compiled copy of this file).
import { main } from './main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
