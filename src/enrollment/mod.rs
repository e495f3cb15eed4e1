//! Enrollments: who may read a program's lessons. A paid order grants one; so can the instructor,
//! by hand. Revoking (a refund) keeps the row, so progress survives a return.

pub mod store;
