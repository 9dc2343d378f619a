//! The history page and its tiles: newest first, or the results of a caption search with the
//! matched words marked; a pending image's tile fetches itself again until captioned.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::images::{own_card, ImageCard};
use super::visitor::SignedIn;
use super::{render, Nav, PageError};
use crate::core::domain::ImageRecord;
use crate::core::search::{searchable_fields, SearchField, SearchQuery};
use crate::http::AppState;

/// Thumbnails on one history page.
const HISTORY_PAGE: usize = 24;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/history", get(history))
        .route("/images/{id}/tile", get(tile))
}

#[derive(Template)]
#[template(path = "tile.html")]
struct TileFragment {
    tile: Tile,
}

/// A history tile: while its image is pending it fetches itself again, so images uploaded in
/// bulk fill in their captions in the history as they finish.
async fn tile(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    Ok(render(&TileFragment {
        tile: Tile::plain(own_card(&state, &signed_in, &id).await?),
    }))
}

#[derive(Deserialize)]
struct HistoryQuery {
    /// A caption search; blank or absent: the whole history.
    q: Option<String>,
    cursor: Option<String>,
}

/// Text cut into pieces, `true` for a word that matched the search; the template escapes each
/// piece and marks the matching ones.
type Highlighted = Vec<(String, bool)>;

/// One thumbnail of the history or of the search results.
struct Tile {
    card: ImageCard,
    /// The concise caption, highlighted in search results.
    caption: Option<Highlighted>,
    /// In search results, the other fields that matched (`creative caption`, `labels`).
    also: Vec<(&'static str, Highlighted)>,
}

impl Tile {
    /// A history tile: the concise caption, nothing marked.
    fn plain(card: ImageCard) -> Self {
        let caption = card.texts.concise.clone().map(|c| vec![(c, false)]);
        Self {
            card,
            caption,
            also: Vec::new(),
        }
    }

    fn new(card: ImageCard, record: &ImageRecord, search: Option<&SearchQuery>) -> Self {
        let Some(search) = search else {
            return Self::plain(card);
        };
        let mut caption = None;
        let mut also = Vec::new();
        for (field, text) in searchable_fields(record) {
            let pieces = search.highlight(&text);
            let matched = pieces.iter().any(|(_, hit)| *hit);
            let pieces: Highlighted = pieces
                .into_iter()
                .map(|(piece, hit)| (piece.to_owned(), hit))
                .collect();
            match field {
                SearchField::Concise => caption = Some(pieces),
                SearchField::Creative if matched => also.push(("creative caption", pieces)),
                SearchField::Labels if matched => also.push(("labels", pieces)),
                _ => {}
            }
        }
        Self {
            card,
            caption,
            also,
        }
    }
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    nav: Nav,
    tiles: Vec<Tile>,
    /// The search as typed; empty for the plain history.
    q: String,
    searching: bool,
    /// The first page of this history or search, and the next one.
    first_href: String,
    next_href: Option<String>,
    first_page: bool,
}

/// `/history` with these query parameters.
fn history_href(q: Option<&str>, cursor: Option<&str>) -> String {
    let params: Vec<(&str, &str)> = [("q", q), ("cursor", cursor)]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
    match serde_urlencoded::to_string(params) {
        Ok(query) if !query.is_empty() => format!("/history?{query}"),
        _ => "/history".to_owned(),
    }
}

/// The history, newest first, or with `q` the images whose captions or labels match it, best
/// first, the matching words marked.
async fn history(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let user = &signed_in.principal.user;
    let search = SearchQuery::parse(query.q.as_deref().unwrap_or_default())?;
    let cursor = query.cursor.as_deref();
    let (records, next_cursor) = match &search {
        Some(search) => {
            let (hits, next) = state
                .engine
                .search(user, search, cursor, HISTORY_PAGE)
                .await?;
            (hits.into_iter().map(|hit| hit.record).collect(), next)
        }
        None => state.engine.list(user, cursor, HISTORY_PAGE).await?,
    };
    let mut tiles = Vec::with_capacity(records.len());
    for record in &records {
        let card = ImageCard::new(&state, record).await?;
        tiles.push(Tile::new(card, record, search.as_ref()));
    }
    let q = search.as_ref().map(|s| s.text().to_owned());
    Ok(render(&HistoryPage {
        nav: Nav::from(&signed_in.visitor),
        tiles,
        searching: q.is_some(),
        first_href: history_href(q.as_deref(), None),
        next_href: next_cursor.map(|c| history_href(q.as_deref(), Some(&c))),
        q: q.unwrap_or_default(),
        first_page: cursor.is_none(),
    }))
}
