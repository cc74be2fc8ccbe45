// What the differential harnesses share: a frozen clock and reading the JSON case list from stdin.
'use strict';

function freezeClock(now) {
  // Date and Date.now at `now` (epoch ms), so signed dates, JWT times and nonces from the clock are reproducible
  const RealDate = Date;
  class FrozenDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(now);
      else super(...args);
    }
    static now() {
      return now;
    }
  }
  global.Date = FrozenDate;
}

function runMain(main) {
  // main(stdin text) may be async; any error is printed and the process exits 1
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { input += chunk; });
  process.stdin.on('end', () => {
    Promise.resolve().then(() => main(input)).catch((error) => {
      console.error(error);
      process.exit(1);
    });
  });
}

module.exports = { freezeClock, runMain };
