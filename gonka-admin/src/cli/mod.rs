//! The `gonka-admin` binary's library half (so the gateway can reuse it).
