// The address grammar and the address classes live with the lab rules (src/core/lab-rules/), which labctl and the
// sidecar share.
export {
  accountOf,
  ADDRESS_PATTERN,
  classDomain,
  isInsideLab,
  isSpoofedSender,
  splitAddress,
  type AddressParts,
} from '../core/lab-rules/address.js';
