// The address grammar lives with the lab rules (src/core/lab-rules/), which labctl and the sidecar share.
export { ADDRESS_PATTERN, splitAddress, type AddressParts } from '../core/lab-rules/address.js';
