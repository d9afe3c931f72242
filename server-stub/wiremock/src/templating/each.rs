//! `#each`, counted: the one helper that multiplies work.

use handlebars::{
    BlockContext, BlockParams, Context, Handlebars, Helper, HelperResult, JsonValue, Output,
    RenderContext, RenderErrorReason, Renderable, to_json,
};

use super::budget::charge;

/// Handlebars' own `#each` (its `EachHelper`, MIT licensed, rewritten over its public API),
/// with one step of the render's budget charged per iteration: the built-in one cannot be
/// wrapped, and it is the only helper that multiplies work.
pub(super) struct BudgetedEach;

impl handlebars::HelperDef for BudgetedEach {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("each", 0))?;
        let Some(t) = h.template() else {
            return Ok(());
        };
        // (key, value) per item: the index for an array, the member name for an object.
        let items: Vec<(JsonValue, &JsonValue, String)> = match value.value() {
            JsonValue::Array(list) if !list.is_empty() || h.inverse().is_none() => list
                .iter()
                .enumerate()
                .map(|(i, v)| (to_json(i), v, i.to_string()))
                .collect(),
            JsonValue::Object(obj) if !obj.is_empty() || h.inverse().is_none() => obj
                .iter()
                .map(|(k, v)| (to_json(k), v, k.clone()))
                .collect(),
            _ => {
                return match h.inverse() {
                    Some(else_template) => else_template.render(r, ctx, rc, out),
                    None => Ok(()),
                };
            }
        };
        let is_object = value.value().is_object();
        let mut block = BlockContext::new();
        match value.context_path() {
            Some(p) => *block.base_path_mut() = p.clone(),
            None => block.set_base_value(value.value().clone()),
        }
        rc.push_block(block);
        let base_path = value.context_path();
        let len = items.len();
        for (i, (key, v, relative)) in items.into_iter().enumerate() {
            charge(1)?;
            if let Some(block) = rc.block_mut() {
                block.set_local_var("first", to_json(i == 0));
                block.set_local_var("last", to_json(i + 1 == len));
                block.set_local_var("index", to_json(i));
                if is_object {
                    block.set_local_var("key", key.clone());
                }
                match base_path {
                    Some(p) => {
                        let mut path = p.clone();
                        path.push(relative);
                        *block.base_path_mut() = path;
                    }
                    None => block.set_base_value(v.clone()),
                }
                if let Some(name) = h.block_param() {
                    let mut params = BlockParams::new();
                    match base_path {
                        Some(_) => params.add_path(name, Vec::new())?,
                        None => params.add_value(name, v.clone())?,
                    }
                    block.set_block_params(params);
                } else if let Some((name, key_name)) = h.block_param_pair() {
                    let mut params = BlockParams::new();
                    match base_path {
                        Some(_) => params.add_path(name, Vec::new())?,
                        None => params.add_value(name, v.clone())?,
                    }
                    params.add_value(key_name, key)?;
                    block.set_block_params(params);
                }
            }
            t.render(r, ctx, rc, out)?;
        }
        rc.pop_block();
        Ok(())
    }
}
