"""Cost participation: what a passenger is invited to give the driver for a ride.

Layer: just below `bookings` (above offers, requests and people). `pricing` is a pure
function of the km and the service settings; `operations` reads the router's km for a
request, the driver's choice and the passenger's exemption, and fixes the amount on a
booking when it is confirmed (called by the booking state machine)."""
