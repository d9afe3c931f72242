pub mod secret_places;
