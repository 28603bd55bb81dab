//! The `contracts` table. (Filled in by the issue that needs it.)
