//! The `provider_calls` table. (Filled in by the issue that needs it.)
