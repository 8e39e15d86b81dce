//! The expansion: the same function, whose body claims the message before running the original
//! body, records its `Ok` value, and replays that value to duplicates.
//!
//! ```text
//! #[attrs] #vis #sig {
//!     #![inner attrs]
//!     let __dedup_call = __private::Call { scope, key: __private::key_of(&(key)), ttl, lease,
//!                                          correlation, payload };
//!     // sync:
//!     __private::run_sync_returning::<Ret>(__private::handle(&(store)), __dedup_call, move || -> Ret {
//!         body
//!     })
//!     // async:
//!     __private::run_async_returning::<Ret>(__private::handle(&(store)), __dedup_call, async move {
//!         fake_return_edge; { body }
//!     }).await
//! }
//! ```
//!
//! With `tx = <param>`, the claim and the completion run in the caller's transaction instead
//! (see `expand_in_transaction`).
//!
//! Every user expression is evaluated before the body, from shared borrows, at its own span, so
//! the body may then consume or mutably borrow what it came from, and a type error points at the
//! option that caused it. The return type is the explicit type argument of `run_*_returning`, so a
//! return type that is not a storable `Result` is one error, at the return type.

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

use super::item::MaybeItemFn;
use super::valid::{DurationArg, Handler, Key, Scope, Tx, Unit};
use crate::paths;

/// The function, rewritten.
pub(super) fn expand(item: &MaybeItemFn, handler: &Handler<'_>) -> TokenStream {
    if let Some(tx) = &handler.tx {
        return expand_in_transaction(item, handler, tx);
    }
    let private = &paths::private_in(handler.krate);
    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        body,
    } = item;
    let ret = handler.ret;

    let call = call(private, handler);
    let call_var = local("__dedup_call", Span::call_site());
    // Inline in the call, so that a store that does not fit the handler (no blocking API) is
    // reported at `store = ...`. Arguments are evaluated in order: the handle is taken before the
    // closure or async block takes the parameters.
    let store = call_at(private, "handle", handler.store);

    // The run call is located at the tokens its likely errors are about: an `async fn`'s at the
    // return type (`R: HandlerResult`, checked by the call and its `.await` too), a plain `fn`'s
    // at the store (`S: BlockingStore`).
    let run = if sig.asyncness.is_some() {
        let fake_return_edge = fake_return_edge(ret);
        let (first, last) = first_and_last_span(&ret.to_token_stream());
        let path = respan(&quote!(#private::run_async_returning), first);
        let args = parens(
            quote! {
                #store, #call_var, async move {
                    #fake_return_edge
                    { #body }
                }
            },
            last,
        );
        let await_ = quote_spanned!(last=> .await);
        quote!(#path::<#ret> #args #await_)
    } else {
        let (first, last) = first_and_last_span(&handler.store.to_token_stream());
        let path = respan(&quote!(#private::run_sync_returning), first);
        let args = parens(
            quote! {
                #store, #call_var, move || -> #ret {
                    #body
                }
            },
            last,
        );
        quote!(#path::<#ret> #args)
    };

    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #call
            #run
        }
    }
}

/// `tx = <param>`: the same function, whose body runs between a claim and a completion made in
/// the caller's transaction (see `__private::inbox`):
///
/// ```text
/// #[attrs] #vis #sig {
///     #![inner attrs]
///     let __dedup_call = __private::Call { .. };
///     let __dedup_connection = __private::inbox_connection::<T>(); // `tx: &mut T`
///     let __dedup_claim = match __private::inbox_begin::<Ret>(
///         __private::inbox_store(&(store)), __dedup_call, (__dedup_connection)(&mut *tx),
///     ).await {
///         ControlFlow::Continue(claim) => claim,
///         ControlFlow::Break(answer) => return answer,
///     };
///     let __dedup_result: Ret = {
///         let tx = &mut *tx;
///         async move { fake_return_edge; { body } }.await
///     };
///     __private::inbox_finish::<Ret>(__dedup_claim, __dedup_connection(&mut *tx), __dedup_result)
///         .await
/// }
/// ```
///
/// The body gets its own reborrow of the transaction under the parameter's name, so it may use
/// (even move) `tx` as it likes and the completion still has it afterwards. Nothing commits: the
/// caller does, after `Ok`.
fn expand_in_transaction(item: &MaybeItemFn, handler: &Handler<'_>, tx: &Tx<'_>) -> TokenStream {
    let private = &paths::private_in(handler.krate);
    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        body,
    } = item;
    let ret = handler.ret;
    let name = tx.ident;
    let call = call(private, handler);
    let call_var = local("__dedup_call", Span::call_site());
    let connection = local("__dedup_connection", Span::call_site());
    let claim = local("__dedup_claim", Span::call_site());
    let result = local("__dedup_result", Span::call_site());

    // Each likely error is reported once, where the user can fix it: a store without an inbox at
    // `store = ...`, a parameter that is not a transaction at its type `T`, a return type that is
    // not a `Result` at the return type.
    let store = call_at(private, "inbox_store", handler.store);
    let target = tx.target;
    let connection_of = if matches!(target, syn::Type::ImplTrait(_)) {
        // `tx: &mut impl Trait` cannot be named: inferred from the argument.
        quote!(#private::inbox_connection())
    } else {
        let (first, last) = first_and_last_span(&target.to_token_stream());
        let path = respan(&quote!(#private::inbox_connection), first);
        let args = parens(TokenStream::new(), last);
        quote!(#path::<#target> #args)
    };
    let (first, last) = first_and_last_span(&ret.to_token_stream());
    let begin = respan(&quote!(#private::inbox_begin), first);
    let finish = respan(&quote!(#private::inbox_finish), first);
    // The connection `inbox_begin` is checked on spans the `tx = ...` option: without the
    // runtime's `postgres` feature, that check is the one error, and it belongs there.
    let (key_span, _) = first_and_last_span(&tx.option.key.to_token_stream());
    let (_, value_span) = first_and_last_span(&tx.option.value.to_token_stream());
    // `(f)(args)`: the callee's parentheses carry the span, the local keeps its hygiene.
    let begin_connection = parens(quote!(#connection), key_span);
    let begin_connection_args = parens(quote!(&mut *#name), value_span);
    let begin_args = parens(
        quote!(#store, #call_var, #begin_connection #begin_connection_args),
        last,
    );
    let finish_args = parens(quote!(#claim, #connection(&mut *#name), #result), last);
    let await_ = quote_spanned!(last=> .await);
    let fake_return_edge = fake_return_edge(ret);

    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #call
            let #connection = #connection_of;
            let #claim = match #begin::<#ret> #begin_args #await_ {
                #private::core::ops::ControlFlow::Continue(#claim) => #claim,
                #private::core::ops::ControlFlow::Break(#result) => return #result,
            };
            let #result: #ret = {
                #[allow(unused_variables, clippy::shadow_reuse)]
                let #name = &mut *#name;
                async move {
                    #fake_return_edge
                    { #body }
                }
                .await
            };
            #finish::<#ret> #finish_args #await_
        }
    }
}

/// `let __dedup_call = __private::Call { .. };`, preceded by the statements that bind its
/// `Duration` expressions.
fn call(private: &TokenStream, handler: &Handler<'_>) -> TokenStream {
    let call_var = local("__dedup_call", Span::call_site());
    let (ttl_stmt, ttl) = duration(private, &handler.ttl, "__dedup_ttl", quote!(DEFAULT_TTL));
    let (lease_stmt, lease) = duration(
        private,
        &handler.lease,
        "__dedup_lease",
        quote!(DEFAULT_LEASE),
    );
    let scope = scope(private, &handler.scope);
    let key = key(private, &handler.key);
    let correlation = correlation(private, handler.correlation);
    let payload = payload(private, handler.payload);
    quote! {
        #ttl_stmt
        #lease_stmt
        let #call_var = #private::Call {
            scope: #scope,
            key: #key,
            ttl: #ttl,
            lease: #lease,
            correlation: #correlation,
            payload: #payload,
        };
    }
}

/// `__private::func(&(expr))`, located exactly at `expr` for errors: the path and `&` at its
/// first token, the parentheses at its last (rustc spans an expression from its first token to
/// its closing delimiter).
fn call_at(private: &TokenStream, func: &str, expr: &dyn ToTokens) -> TokenStream {
    let tokens = expr.to_token_stream();
    let (first, last) = first_and_last_span(&tokens);
    let path = respan(private, first);
    let func = Ident::new(func, first);
    let mut borrowed = TokenStream::new();
    let mut amp = Punct::new('&', Spacing::Alone);
    amp.set_span(first);
    borrowed.extend([TokenTree::Punct(amp), parens(tokens, last)]);
    let args = parens(borrowed, last);
    quote_spanned!(first=> #path::#func #args)
}

fn parens(tokens: TokenStream, span: Span) -> TokenTree {
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(span);
    TokenTree::Group(group)
}

fn first_and_last_span(tokens: &TokenStream) -> (Span, Span) {
    let mut iter = tokens.clone().into_iter();
    let first = iter.next().map_or_else(Span::call_site, |tt| tt.span());
    let last = match iter.last() {
        Some(TokenTree::Group(group)) => group.span_close(),
        Some(tt) => tt.span(),
        None => first,
    };
    (first, last)
}

/// `tokens` (a path) with every token at `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(group) = &tt {
                let mut new = Group::new(group.delimiter(), respan(&group.stream(), span));
                new.set_span(span);
                tt = TokenTree::Group(new);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// A generated local: located at `span` for errors, invisible to the user's body (mixed-site
/// hygiene, as `macro_rules!` locals).
fn local(name: &str, span: Span) -> Ident {
    Ident::new(name, span.resolved_at(Span::mixed_site()))
}

fn scope(private: &TokenStream, scope: &Scope<'_>) -> TokenStream {
    match scope {
        Scope::Given(expr) => quote!(#expr),
        Scope::Default(fn_name) => {
            let name = Literal::string(&fn_name.unraw().to_string());
            quote! {
                #private::core::concat!(#private::core::module_path!(), "::", #name)
            }
        }
    }
}

fn key(private: &TokenStream, key: &Key<'_>) -> TokenStream {
    match key {
        Key::Expr(expr) => call_at(private, "key_of", expr),
        Key::Param(ident) => call_at(private, "key_of", ident),
    }
}

/// The statement that binds a `Duration` expression (typed, at its span), and the field value.
fn duration(
    private: &TokenStream,
    arg: &DurationArg<'_>,
    var: &str,
    default: TokenStream,
) -> (TokenStream, TokenStream) {
    match arg {
        DurationArg::Default => (TokenStream::new(), quote!(#private::#default)),
        DurationArg::Fixed { amount, unit, span } => {
            let amount = Literal::u64_unsuffixed(*amount);
            let value = match unit {
                Unit::Secs => quote_spanned!(*span=> #private::seconds(#amount)),
                Unit::Millis => quote_spanned!(*span=> #private::Duration::from_millis(#amount)),
            };
            (TokenStream::new(), value)
        }
        DurationArg::Expr(expr) => {
            let span = expr.span();
            let var = local(var, span);
            let duration = respan(&quote!(#private::Duration), span);
            let stmt = quote_spanned! {span=>
                let #var: #duration = #expr;
            };
            (stmt, quote!(#var))
        }
    }
}

/// Any `Display` value or an `Option` of one, told apart by autoref (see `__private::Probe`).
fn correlation(private: &TokenStream, expr: Option<&syn::Expr>) -> TokenStream {
    let Some(expr) = expr else {
        return quote!(#private::Option::None);
    };
    let span = expr.span();
    let private = respan(private, span);
    quote_spanned! {span=>
        {
            #[allow(unused_imports)]
            use #private::{CorrelationFromDisplay as _, CorrelationFromOption as _};
            (&&#private::Probe(&(#expr))).__dedup_correlation()
        }
    }
}

fn payload(private: &TokenStream, expr: Option<&syn::Expr>) -> TokenStream {
    match expr {
        None => quote!(#private::Option::None),
        Some(expr) => {
            let key = call_at(private, "key_of", expr);
            let some = respan(&quote!(#private::Option::Some), expr.span());
            quote_spanned!(expr.span()=> #some(#key))
        }
    }
}

/// tracing's fake return edge: tells inference, before the body is checked, that the async block
/// returns the function's return type, so `?` and `return` mean what they meant in the function.
fn fake_return_edge(ret: &syn::Type) -> TokenStream {
    let var = local("__dedup_fake_return", ret.span());
    quote_spanned! {ret.span()=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let #var: #ret = loop {};
            return #var;
        }
    }
}
