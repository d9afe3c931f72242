//! How [`SledStore`](super::SledStore)'s values and keys are laid out in its trees, and the
//! bookkeeping of a token's index entries inside a transaction.

use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::store::error::StoreError;
use crate::token::TokenRecord;
use crate::user::user_key;

pub(super) const SETTINGS_KEY: &[u8] = b"settings";
/// The next token number to give (big-endian u64); numbers start at 1 and are never reused.
const NEXT_NUMBER_KEY: &[u8] = b"next_token_number";
pub(super) const NOTICE_SECRET_KEY: &[u8] = b"notice_secret";

pub(super) fn notice_key(token_id: &str, days_before: u32) -> Vec<u8> {
    let mut k = token_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&days_before.to_be_bytes());
    k
}

pub(super) fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

pub(super) fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => io(e),
    }
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(super) fn owner_key(owner: &str, id: &str) -> Vec<u8> {
    let mut k = user_key(owner).into_bytes();
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

pub(super) type TxTree = sled::transaction::TransactionalTree;
pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Gives token `id` the next number, inside a transaction.
pub(super) fn assign_number(
    meta: &TxTree,
    nums: &TxTree,
    by_num: &TxTree,
    id: &[u8],
) -> TxResult<u64> {
    let next = match meta.get(NEXT_NUMBER_KEY)? {
        Some(v) => u64::from_be_bytes(
            v.as_ref()
                .try_into()
                .map_err(|_| abort(StoreError::Decode("next token number".into())))?,
        ),
        None => 1,
    };
    meta.insert(NEXT_NUMBER_KEY, &next.saturating_add(1).to_be_bytes())?;
    nums.insert(id, &next.to_be_bytes())?;
    by_num.insert(&next.to_be_bytes(), id)?;
    Ok(next)
}

/// Removes a token's number (both directions), inside a transaction.
pub(super) fn remove_number(nums: &TxTree, by_num: &TxTree, id: &[u8]) -> TxResult<()> {
    if let Some(n) = nums.remove(id)? {
        by_num.remove(n)?;
    }
    Ok(())
}

/// The trees a token lives in, inside one transaction.
pub(super) struct TokenTrees<'a> {
    pub toks: &'a TxTree,
    pub owners: &'a TxTree,
    pub nums: &'a TxTree,
    pub by_num: &'a TxTree,
}

impl TokenTrees<'_> {
    /// Removes tokens, their owner-index entries and their numbers.
    pub fn remove(&self, tokens: &[TokenRecord]) -> TxResult<()> {
        for t in tokens {
            self.toks.remove(t.id.as_bytes())?;
            self.owners.remove(owner_key(&t.owner, &t.id))?;
            remove_number(self.nums, self.by_num, t.id.as_bytes())?;
        }
        Ok(())
    }
}

pub(super) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}
