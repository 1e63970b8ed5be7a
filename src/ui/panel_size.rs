//! Resizable panels whose size follows the window until the user drags their edge, and from
//! then on keeps the size the user gave them (the app remembers it per store). egui keeps the
//! first size a panel is shown at, which would fix a size worked out from a window not yet at
//! its final size; so, until the user resizes a panel, its stored size is set to the one wanted
//! for the window as it is.

use eframe::egui::{self, Ui, containers::panel::PanelState};

/// Which size of a panel is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Along {
    /// Of a left panel (its right edge moves).
    Width,
    /// Of a bottom panel (its top edge moves).
    Height,
}

/// A panel shown in `ui` with the id salt `id_salt`, with the size the user gave it (`user`)
/// or else `auto`.
pub struct PanelSize {
    id: egui::Id,
    along: Along,
    /// The size asked for this frame.
    pub size: f32,
}

impl PanelSize {
    /// Call before showing the panel; pass [`PanelSize::size`] as its default size. A size the
    /// user gave is fitted into `range` (a size remembered from a larger window).
    pub fn before(
        ui: &Ui,
        id_salt: &str,
        along: Along,
        auto: f32,
        user: Option<f32>,
        range: std::ops::RangeInclusive<f32>,
    ) -> PanelSize {
        let id = ui.scope_id().with_salt(egui::IdSalt::new(id_salt));
        let fitted = user.map(|u| u.clamp(*range.start(), range.end().max(*range.start())));
        let size = fitted.unwrap_or(auto.round());
        if user.is_none() || fitted != user {
            let extent = match along {
                Along::Width => egui::vec2(size, 1.0),
                Along::Height => egui::vec2(1.0, size),
            };
            let outer_rect = egui::Rect::from_min_size(egui::Pos2::ZERO, extent);
            ui.ctx().data_mut(|d| d.insert_persisted(id, PanelState { outer_rect }));
        }
        PanelSize { id, along, size }
    }

    /// Call after showing the panel, with the rect it was shown in: the size the user gave it,
    /// if they did (it differs from the one asked for), or the one they gave before.
    pub fn after(self, ui: &Ui, shown_rect: egui::Rect, user: Option<f32>) -> Option<f32> {
        let shown = PanelState::load(ui.ctx(), self.id).map(|state| match self.along {
            Along::Width => state.outer_rect.width(),
            Along::Height => state.outer_rect.height(),
        })?;
        // Only a drag that began at its edge counts: not a size egui clamped (to a window not
        // yet at its size) or grew to its contents while the user clicked elsewhere; and egui
        // rounds an edge to whole pixels.
        // (The edge where it was when the press began: the size asked for, from the fixed side.)
        let from_edge = |p: egui::Pos2| match self.along {
            Along::Width => (p.x - (shown_rect.left() + self.size)).abs(),
            Along::Height => (p.y - (shown_rect.bottom() - self.size)).abs(),
        };
        // (Remembered from the press: on release egui no longer says where it began.)
        let flag = self.id.with("pressed_at_edge");
        if let Some(at_edge) = ui.input(|i| i.pointer.press_origin()).map(|p| from_edge(p) <= 12.0) {
            ui.ctx().data_mut(|d| d.insert_temp(flag, at_edge));
        }
        let pressed_at_edge = ui.ctx().data(|d| d.get_temp::<bool>(flag)).unwrap_or(false);
        let dragging = pressed_at_edge && ui.input(|i| i.pointer.any_down() || i.pointer.any_released());
        match user {
            Some(_) => Some(shown),
            None if dragging && (shown - self.size).abs() > 1.5 => Some(shown),
            None => None,
        }
    }
}
