// PEM armour lines built at run time, so no test source holds text that looks like a committed private key.

const DASHES = '-'.repeat(5);

/** `-----BEGIN <label>-----` or `-----END <label>-----`. */
export function pemLine(edge: 'BEGIN' | 'END', label = 'RSA PRIVATE KEY'): string {
  return `${DASHES}${edge} ${label}${DASHES}`;
}

/** Any private key header or footer. */
export const PEM_PRIVATE_ARMOUR = new RegExp(`${DASHES}(BEGIN|END) [A-Z ]*PRIVATE KEY${DASHES}`);
