//! The `notifications` table. (Filled in by the issue that needs it.)
