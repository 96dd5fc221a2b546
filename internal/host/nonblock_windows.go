package host

// Windows has no FIFOs in the file namespace to block on.
const oNonblock = 0
