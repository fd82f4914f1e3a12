//! The steadfast retry layer.
//!
//! # Example
//!
//! ```
//! assert_eq!(1 + 1, 2);
//! ```

#![forbid(unsafe_code)]
